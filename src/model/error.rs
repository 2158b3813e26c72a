use std::fmt;

/// A value a client sent that lvsd refuses, with the field it came from.
///
/// `field` is a path into the document (`services[2].servers[0].weight`), or
/// empty when the whole value is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from one level up: `weight` inside `servers[1]`
    /// becomes `servers[1].weight`.
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        let parent = parent.to_string();
        self.field = match (parent.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => parent,
            (false, false) if self.field.starts_with('[') => format!("{parent}{}", self.field),
            (false, false) => format!("{parent}.{}", self.field),
        };
        self
    }

    /// Parses JSON into `T`, naming the field at fault when the shape or a
    /// type is wrong (serde's own errors only give line and column).
    pub fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, Self> {
        let de = &mut serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = strip_position(&inner.to_string());
            let field = if path == "." { String::new() } else { path };
            Self::new(field, message)
        })
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_field_paths() {
        let err = ValidationError::new("weight", "too big")
            .within("servers[1]")
            .within("services[0]");
        assert_eq!(err.field, "services[0].servers[1].weight");
        assert_eq!(err.to_string(), "services[0].servers[1].weight: too big");
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inner: Vec<Inner>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            weight: u16,
        }
        let err =
            ValidationError::from_json::<Outer>(br#"{"inner":[{"weight":1},{"weight":70000}]}"#)
                .unwrap_err();
        assert_eq!(err.field, "inner[1].weight");
        assert!(err.message.contains("70000"), "{}", err.message);
    }
}
