//! The kinds this process knows: the built-in ones, and any an app registers.
//!
//! A document whose kind is not registered here is carried unread, like any document this
//! node cannot read: its rules cannot be judged, so it is never merged.

use std::fmt;
use std::sync::RwLock;

use super::{DocKind, authority, builtin, certificate, exchange, link, market, poll, review};
use crate::limits::KIND_NAME_BYTES_MAX;

/// A kind's name as it appears in document ids: 1 to `KIND_NAME_BYTES_MAX` bytes of
/// lower-case ASCII letters, digits and `-`, starting with a letter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KindName {
    len: u8,
    bytes: [u8; KIND_NAME_BYTES_MAX],
}

impl KindName {
    /// Checks and wraps a name.
    pub const fn new(name: &str) -> Option<Self> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > KIND_NAME_BYTES_MAX || !b[0].is_ascii_lowercase() {
            return None;
        }
        let mut bytes = [0u8; KIND_NAME_BYTES_MAX];
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
                return None;
            }
            bytes[i] = c;
            i += 1;
        }
        Some(KindName { len: b.len() as u8, bytes })
    }

    /// A name known valid at compile time (a kind's constant); an invalid one fails the
    /// build.
    pub const fn of(name: &'static str) -> Self {
        match Self::new(name) {
            Some(k) => k,
            None => panic!("not a valid kind name"),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("checked ASCII")
    }
}

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KindName({})", self.as_str())
    }
}

/// Why a kind could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name is not a valid kind name.
    #[error("{0:?} is not a valid kind name (1 to 16 lower-case letters, digits or '-', starting with a letter)")]
    Name(String),
    /// Another kind already has this name.
    #[error("a kind named {0:?} is already registered")]
    Taken(String),
    /// The kind's home is a profile: profiles hold only the built-in profile kind.
    #[error(
        "kind {0:?} lives in a profile; plug-in kinds live in communities (Home::Members or Home::CommunityPublic)"
    )]
    Home(String),
}

/// Names the built-in kinds use (in community document ids), reserved.
const BUILTIN: [&dyn DocKind; 17] = [
    &builtin::Profile,
    &authority::Authority,
    &builtin::Roster,
    &builtin::CommunityPublic,
    &builtin::Wiki,
    &builtin::WikiPage,
    &builtin::Feed,
    &builtin::FomFeed,
    &builtin::PublicFeed,
    &builtin::Passes,
    &market::Market,
    &market::PublicMarket,
    &exchange::Exchanges,
    &review::Reviews,
    &poll::Polls,
    &certificate::Certificates,
    &link::Links,
];

static REGISTERED: RwLock<Vec<&'static dyn DocKind>> = RwLock::new(Vec::new());

/// Registers a kind for this process (every node opened in it then reads, judges and
/// merges documents of the kind). Registering the same kind value twice is harmless.
pub fn register(kind: &'static dyn DocKind) -> Result<(), RegisterError> {
    let name = kind.name();
    if KindName::new(name).is_none() {
        return Err(RegisterError::Name(name.to_string()));
    }
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = BUILTIN.iter().chain(all.iter()).find(|k| k.name() == name) {
        if existing.type_key() == kind.type_key() {
            return Ok(());
        }
        return Err(RegisterError::Taken(name.to_string()));
    }
    if kind.home() == super::Home::Profile {
        return Err(RegisterError::Home(name.to_string()));
    }
    all.push(kind);
    Ok(())
}

/// The kind named `name`, built in or registered.
pub fn find(name: &str) -> Option<&'static dyn DocKind> {
    if let Some(k) = BUILTIN.iter().find(|k| k.name() == name) {
        return Some(*k);
    }
    REGISTERED.read().unwrap_or_else(|e| e.into_inner()).iter().find(|k| k.name() == name).copied()
}

/// Every kind known, built in first.
pub fn all() -> Vec<&'static dyn DocKind> {
    let mut out: Vec<&'static dyn DocKind> = BUILTIN.to_vec();
    out.extend(REGISTERED.read().unwrap_or_else(|e| e.into_inner()).iter().copied());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Home, Writers};
    use crate::routing::Class;

    struct Notes;
    impl DocKind for Notes {
        kind_basics!("notes-test", Home::Members, Writers::Members, Class::Content);
    }
    struct Impostor;
    impl DocKind for Impostor {
        kind_basics!("feed", Home::Members, Writers::Members, Class::Content);
    }

    #[test]
    fn kinds_register_once_and_built_in_names_are_reserved() {
        static NOTES: Notes = Notes;
        assert!(find("notes-test").is_none());
        register(&NOTES).unwrap();
        register(&NOTES).unwrap();
        assert_eq!(find("notes-test").map(|k| k.name()), Some("notes-test"));
        assert_eq!(register(&Impostor), Err(RegisterError::Taken("feed".into())));
        struct Diary;
        impl DocKind for Diary {
            kind_basics!("diary-test", Home::Profile, Writers::ProfileOwner, Class::Profile);
        }
        assert_eq!(register(&Diary), Err(RegisterError::Home("diary-test".into())));
        assert!(find("diary-test").is_none());
        assert_eq!(find("feed").unwrap().writers(), Writers::Members);
        assert!(all().iter().filter(|k| k.name() == "notes-test").count() == 1);
    }

    #[test]
    fn kind_names_are_short_lower_case_ascii() {
        for ok in ["a", "market", "wiki-page", "k9", "abcdefghijklmnop"] {
            assert_eq!(KindName::new(ok).map(|k| k.to_string()), Some(ok.to_string()));
        }
        for bad in ["", "Market", "9lives", "-x", "a/b", "a b", "abcdefghijklmnopq", "é"] {
            assert!(KindName::new(bad).is_none(), "{bad:?}");
        }
    }
}
