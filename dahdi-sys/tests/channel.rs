//! Opening a channel where there is no DAHDI device: the errors must say
//! which channel, which path or request, and what the kernel answered.

#![cfg(target_os = "linux")]

use std::path::Path;

use dahdi_sys::channel::{Channel, ChannelError, SampleFormat};

#[test]
fn opening_a_missing_device_names_the_channel_and_the_path() {
    let path = Path::new("/nonexistent/dahdi/channel");
    let err = Channel::open_device(path, 7, SampleFormat::Linear).unwrap_err();
    assert!(
        matches!(&err, ChannelError::Open { channel: 7, path: p, .. } if p == path),
        "{err:?}"
    );
    assert_eq!(err.channel(), 7);
    assert_eq!(err.os_error(), Some(libc::ENOENT));
    let message = err.to_string();
    assert!(message.contains("channel 7"), "{message}");
    assert!(message.contains("/nonexistent/dahdi/channel"), "{message}");
    assert!(message.contains("No such file or directory"), "{message}");
}

#[test]
fn a_device_that_is_not_dahdi_refuses_specify_and_the_error_names_the_request() {
    // /dev/null opens read-write like the channel device but knows no
    // DAHDI request, so the first one, DAHDI_SPECIFY, is refused.
    let err = Channel::open_device(Path::new("/dev/null"), 3, SampleFormat::Mulaw).unwrap_err();
    assert!(
        matches!(
            err,
            ChannelError::Ioctl {
                channel: 3,
                request: "DAHDI_SPECIFY",
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("channel 3"), "{message}");
    assert!(message.contains("DAHDI_SPECIFY"), "{message}");
    assert!(
        message.contains("Inappropriate ioctl for device"),
        "{message}"
    );
}

#[test]
fn channel_numbers_outside_what_dahdi_takes_are_refused_before_opening() {
    for number in [0, u32::MAX] {
        let err =
            Channel::open_device(Path::new("/dev/null"), number, SampleFormat::Linear).unwrap_err();
        assert!(
            matches!(err, ChannelError::InvalidNumber { channel } if channel == number),
            "{err:?}"
        );
        assert_eq!(err.os_error(), None);
    }
}
