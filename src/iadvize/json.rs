//! Tolerant JSON readers that never fail on a wrong type, and the GraphQL `errors` envelope.
//!
//! A page is deserialized straight into borrowed structs whose fields cannot fail:
//! [`Leaf`] takes any JSON value, [`Obj`] and [`List`] note a wrong type instead of
//! erroring, and unknown keys are skipped. So no JSON tree is built, strings without
//! escapes are borrowed from the body, and the caller's validation sees every oddity.
//! serde_json still does the tokenising, so its limits apply: nesting deeper than 128
//! levels and numbers beyond the `f64` range (`1e400`) make the whole body invalid.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Error;

/// Longest GraphQL error text kept in an [`Error`].
const MAX_MESSAGE_CHARS: usize = 500;

/// The GraphQL error messages of a refused request's body (HTTP 400), joined and
/// truncated; the body's text itself when it holds no GraphQL errors.
pub fn error_messages(body: &[u8]) -> String {
    if let Err(Error::Graphql { message, .. }) = check_graphql_errors(body) {
        return message;
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate_chars(text.trim(), MAX_MESSAGE_CHARS)
}

/// [`Error::Graphql`] when the body holds a non-empty `errors` list. A body that is not
/// a JSON object passes: the caller's own parsing says what is wrong with it.
pub(crate) fn check_graphql_errors(body: &[u8]) -> Result<(), Error> {
    match from_body::<Obj<ErrorsOnly<'_>>>(body) {
        Ok(Obj::Value(ErrorsOnly { errors })) => graphql_errors(&errors),
        _ => Ok(()),
    }
}

pub(crate) fn from_body<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, Error> {
    // Checking UTF-8 once over the whole body and parsing from `&str` spares serde_json a
    // check of every string, keys included: a fifth of the parse. A body that is not
    // UTF-8 was refused as a whole before as well, at its first bad string.
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::InvalidResponse(format!(
            "not JSON: invalid UTF-8 at byte {}",
            e.valid_up_to()
        ))
    })?;
    // serde_json's messages name a position, never the content, so they are safe to log.
    serde_json::from_str(text).map_err(|e| Error::InvalidResponse(format!("not JSON: {e}")))
}

/// A non-empty `errors` list fails the request even beside `data`: partial data would
/// silently undercount.
pub(crate) fn graphql_errors(errors: &List<Obj<GraphqlError<'_>>>) -> Result<(), Error> {
    let errors = match errors {
        List::Absent | List::Null => return Ok(()),
        List::Items(errors) if errors.is_empty() => return Ok(()),
        List::Items(errors) => errors,
        List::Other => {
            return Err(Error::InvalidResponse(
                "\"errors\" is not a list".to_owned(),
            ));
        }
    };
    let mut name = None;
    let mut messages = Vec::with_capacity(errors.len());
    let mut retryable = true;
    for error in errors {
        let (message, extensions) = match error {
            Obj::Value(error) => (error.message.as_str(), error.extensions.value()),
            _ => (None, None),
        };
        if name.is_none() {
            name = extensions.and_then(|ext| ext.name.as_str().or_else(|| ext.code.as_str()));
        }
        messages.extend(message);
        retryable &= extensions
            .and_then(|ext| ext.retry_policy.as_str())
            .is_some_and(|policy| policy != "NO_RETRY");
    }
    Err(Error::Graphql {
        name: truncate_chars(name.unwrap_or("UNKNOWN"), 100),
        message: truncate_chars(&messages.join("; "), MAX_MESSAGE_CHARS),
        retryable,
    })
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

/// Any JSON value, read without failing: the leaves of a record.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    #[default]
    Absent,
    Null,
    Bool(bool),
    /// Integers that fit an `i64`.
    Int(i64),
    /// Numbers with a fraction or an exponent, and integers beyond `i64`.
    Float(f64),
    Str(Cow<'a, str>),
    /// An array or an object where a leaf was expected.
    Composite,
}

impl Leaf<'_> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Leaf::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// An object field: its fields when it is an object, else what it was instead.
#[derive(Debug, Default)]
pub(crate) enum Obj<T> {
    #[default]
    Absent,
    Null,
    /// Another JSON type.
    Other,
    Value(T),
}

impl<T> Obj<T> {
    pub(crate) fn value(&self) -> Option<&T> {
        match self {
            Obj::Value(value) => Some(value),
            _ => None,
        }
    }
}

/// A list field: its items when it is an array, else what it was instead.
#[derive(Debug, Default)]
pub(crate) enum List<T> {
    #[default]
    Absent,
    Null,
    /// Another JSON type.
    Other,
    Items(Vec<T>),
}

/// A struct filled from a JSON object one key at a time; unknown keys are skipped and a
/// repeated key overwrites (the last wins, as in JavaScript's `JSON.parse`).
pub(crate) trait Fields<'de>: Default {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

impl<'de, T: Fields<'de>> Fields<'de> for Box<T> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        (**self).field(key, map)
    }
}

pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

/// Declares a [`Fields`] struct: each field with the JSON key it reads.
/// Paths are absolute because `parse.rs` declares its page structs with it too.
macro_rules! fields {
    ($vis:vis $name:ident { $($field:ident: $ty:ty = $key:literal,)* }) => {
        #[derive(Debug, Default)]
        $vis struct $name<'a> {
            $($field: $ty,)*
        }

        impl<'de: 'a, 'a> $crate::iadvize::json::Fields<'de> for $name<'a> {
            fn field<A: ::serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match key {
                    $($key => self.$field = map.next_value()?,)*
                    _ => $crate::iadvize::json::skip(map)?,
                }
                Ok(())
            }
        }
    };
}
pub(crate) use fields;

fields!(ErrorsOnly {
    errors: List<Obj<GraphqlError<'a>>> = "errors",
});

fields!(pub(crate) GraphqlError {
    message: Leaf<'a> = "message",
    extensions: Obj<Extensions<'a>> = "extensions",
});

fields!(Extensions {
    name: Leaf<'a> = "name",
    code: Leaf<'a> = "code",
    retry_policy: Leaf<'a> = "retryPolicy",
});

impl<'de: 'a, 'a> Deserialize<'de> for Leaf<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LeafVisitor(PhantomData))
    }
}

struct LeafVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LeafVisitor<'a> {
    type Value = Leaf<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Null)
    }

    fn visit_none<E>(self) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Leaf<'a>, E> {
        Ok(i64::try_from(v).map_or(Leaf::Float(v as f64), Leaf::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Leaf<'a>, E> {
        Ok(Leaf::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Leaf<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Leaf::Composite)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Leaf<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Leaf::Composite)
    }
}

/// Accepts every JSON type, so the wrappers below can say "wrong type" instead of
/// failing the whole body.
macro_rules! other_types {
    ($value:ty, $other:expr) => {
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok(<$value>::Null)
        }

        fn visit_none<E>(self) -> Result<$value, E> {
            Ok(<$value>::Null)
        }

        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok($other)
        }

        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok($other)
        }

        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok($other)
        }

        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok($other)
        }

        fn visit_str<E>(self, _: &str) -> Result<$value, E> {
            Ok($other)
        }
    };
}

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjVisitor(PhantomData))
    }
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Fields<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_types!(Obj<T>, Obj::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Obj::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<T>, A::Error> {
        let mut value = T::default();
        while let Some(key) = map.next_key_seed(KeySeed(PhantomData))? {
            value.field(&key, &mut map)?;
        }
        Ok(Obj::Value(value))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = List<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_types!(List<T>, List::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(List::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<List<T>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(List::Other)
    }
}

/// A whole JSON document, for the small bodies that are not pages (the token response,
/// the introspection answer). Strings borrow from the body when they hold no escapes;
/// objects keep their members in order; [`Json::get`] returns the last of repeated keys, as
/// JavaScript's `JSON.parse` does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// Integers that fit an `i64`.
    Int(i64),
    /// Numbers with a fraction or an exponent, and integers beyond `i64`.
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members
                .iter()
                .rev()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor(std::marker::PhantomData))
    }
}

struct JsonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Json<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'a>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json<'a>, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json<'a>, E> {
        Ok(Json::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json<'a>, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Json::Int(n),
            Err(_) => Json::Float(v as f64),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json<'a>, E> {
        Ok(Json::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Json<'a>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'a>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
        while let Some(key) = map.next_key_seed(KeySeed(std::marker::PhantomData))? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// Object keys, borrowed when they hold no escapes.
struct KeySeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_of_a_refused_query() {
        let body =
            br#"{"errors":[{"message":"Cannot query field \"foo\" on type \"Conversation\"."}]}"#;
        assert_eq!(
            error_messages(body),
            r#"Cannot query field "foo" on type "Conversation"."#
        );
        assert_eq!(
            error_messages(b"<html>Bad\nRequest</html>"),
            "<html>Bad Request</html>"
        );
        assert_eq!(error_messages(b"\xff"), "\u{fffd}");
    }
}
