//! SIP for a phone line.
