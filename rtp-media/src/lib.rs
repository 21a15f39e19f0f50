//! Media for a phone line.
