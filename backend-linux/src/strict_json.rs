//! Reading parsed JSON (an OCI `config.json`, a seccomp profile) into
//! typed structs as Go reads it: an object where the type has a struct.
//!
//! A type that derives `Deserialize` also reads its fields from a JSON
//! array, in declaration order: an OCI `"root": ["rootfs", false]` would
//! be a root at `rootfs`, and a seccomp profile `["SCMP_ACT_ALLOW"]` one
//! that allows everything, where runc and crun refuse both. [`Strict`] is
//! a `serde_json::Value` deserializer that refuses an array wherever a
//! struct is read, at any depth, and reads everything else as `&Value`
//! does. Two places are read as `&Value` reads them, strictness aside: an
//! enum's variant (the OCI spec's and the profiles' enums are names) and
//! a field serde buffers first (`flatten`, `untagged`: neither the OCI
//! spec's types nor the profile's use them).

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// `value`, to deserialize strictly: `T::deserialize(Strict(&value))`.
#[derive(Clone, Copy, Debug)]
pub struct Strict<'a>(pub &'a Value);

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            other => Err(de::Error::invalid_type(unexpected(other), &"a JSON object")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// An object's entries, each value read strictly.
struct Entries<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Entries<'a> {
    fn new(map: &'a Map<String, Value>) -> Entries<'a> {
        Entries {
            entries: map.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key.as_str()))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An array's items, each read strictly.
struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Strict(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Root {
        path: String,
        #[serde(default)]
        readonly: Option<bool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        root: Option<Root>,
        #[serde(default)]
        list: Vec<Root>,
        #[serde(default)]
        numbers: Vec<u64>,
    }

    fn read(value: &Value) -> Result<Doc, serde_json::Error> {
        Doc::deserialize(Strict(value))
    }

    #[test]
    fn objects_numbers_strings_lists_and_nulls_read_as_from_a_value() {
        let document = json!({
            "root": { "path": "rootfs", "readonly": null },
            "list": [{ "path": "a", "readonly": true }],
            "numbers": [0, 18446744073709551615u64]
        });
        let strict = read(&document).expect("reads");
        assert_eq!(strict, Doc::deserialize(&document).expect("reads"));
        assert_eq!(strict.numbers, [0, u64::MAX]);
        assert_eq!(read(&json!({ "root": null })).expect("reads").root, None);
    }

    #[test]
    fn an_array_where_a_struct_is_read_is_refused_at_any_depth() {
        let positional = json!({ "root": ["rootfs", false] });
        assert!(
            Doc::deserialize(&positional).is_ok(),
            "serde reads it by position"
        );
        for document in [
            positional,
            json!({ "list": [{ "path": "a" }, ["b"]] }),
            json!([{ "path": "rootfs" }]),
        ] {
            let error = read(&document).expect_err("refused").to_string();
            assert!(error.contains("expected a JSON object"), "{document}: {error}");
        }
    }
}
