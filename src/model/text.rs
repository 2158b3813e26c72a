//! Free text a person writes (a revision's message and author, a cluster's
//! description): bounded, so that no field can make every read of the
//! history carry megabytes.

use super::ValidationError;

/// The longest revision author, in bytes.
pub const AUTHOR_MAX: usize = 256;
/// The longest revision message, in bytes.
pub const MESSAGE_MAX: usize = 4096;
/// The longest cluster description, in bytes.
pub const DESCRIPTION_MAX: usize = 1024;

/// `value` if it is at most `max` bytes without control characters but
/// line breaks and tabs; an error naming `field` otherwise.
pub fn bounded<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ValidationError> {
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("longer than {max} bytes ({} given)", value.len()),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(ValidationError::new(
            field,
            format!("holds the control character {:?}", c),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_by_bytes_and_free_of_control_characters() {
        for (value, max, ok) in [
            ("", 4, true),
            ("abcd", 4, true),
            ("abcde", 4, false),
            ("é", 1, false),
            ("two\nlines\tand tab", 64, true),
            ("bell\u{7}", 64, false),
            ("nul\0", 64, false),
        ] {
            let result = bounded("author", value, max);
            assert_eq!(result.is_ok(), ok, "{value:?}");
            if let Err(err) = result {
                assert_eq!(err.field, "author");
            }
        }
    }
}
