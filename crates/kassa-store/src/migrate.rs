//! The schema-version rules shared by both stores: migrations are numbered SQL files applied in
//! order, each in its own transaction, recorded in `kassa_schema`. A database newer than this
//! build is never touched.

use crate::StoreError;

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// How a database's schema compares with this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    Current,
    /// Migrations this build has and the database lacks (all of them for a new database).
    Behind {
        pending: Vec<i64>,
    },
}

pub fn compare(applied: &[i64], known: &[Migration]) -> Result<SchemaState, StoreError> {
    let latest = known.last().map(|m| m.version).unwrap_or(0);
    if let Some(&newest) = applied.iter().max() {
        if newest > latest {
            return Err(StoreError::Schema(format!(
                "the database schema is at version {newest} but this kassa knows only up to {latest}; \
                 run a newer kassa (refusing to touch a newer schema)"
            )));
        }
    }
    let pending: Vec<i64> = known.iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect();
    Ok(if pending.is_empty() { SchemaState::Current } else { SchemaState::Behind { pending } })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Migration] =
        &[Migration { version: 1, name: "a", sql: "" }, Migration { version: 2, name: "b", sql: "" }];

    #[test]
    fn compares_versions() {
        assert_eq!(compare(&[1, 2], KNOWN), Ok(SchemaState::Current));
        assert_eq!(compare(&[], KNOWN), Ok(SchemaState::Behind { pending: vec![1, 2] }));
        assert_eq!(compare(&[1], KNOWN), Ok(SchemaState::Behind { pending: vec![2] }));
        assert!(matches!(compare(&[1, 2, 3], KNOWN), Err(StoreError::Schema(_))));
    }
}
