//! The `--ledger` value: `memory`, `sqlite:PATH`, `redis://HOST:PORT[/DB]`
//! or `redis-cluster://HOST:PORT[,HOST:PORT…]`, parsed once at start.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the ledger keeps its counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerSpec {
    /// In this process only (the default); gone at exit.
    Memory,
    /// A SQLite file, durable across restarts, for one process.
    Sqlite(PathBuf),
    /// One Redis server shared by the fleet: `redis://HOST:PORT[/DB]`.
    Redis { url: String },
    /// A Redis Cluster: one `redis://HOST:PORT` per seed node.
    RedisCluster { nodes: Vec<String> },
}

/// Why a `--ledger` value was refused; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerSpecError {
    #[error("--ledger: expected memory, sqlite:PATH, redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT…], got {0:?}")]
    Scheme(String),
    #[error("--ledger: sqlite: needs a file path, as in sqlite:/var/lib/adserver/ledger.db")]
    EmptyPath,
    #[error("--ledger: {0:?} is not HOST:PORT with a port 1-65535")]
    Address(String),
    #[error("--ledger: the Redis database in {0:?} must be a number")]
    Database(String),
}

fn host_port(s: &str) -> Result<(), LedgerSpecError> {
    let bad = || LedgerSpecError::Address(s.to_owned());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty() && !host.contains(['/', '@', '?', '#', ' ']);
    match port.parse::<u16>() {
        Ok(p) if p != 0 && host_ok => Ok(()),
        _ => Err(bad()),
    }
}

impl FromStr for LedgerSpec {
    type Err = LedgerSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            Ok(LedgerSpec::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(LedgerSpecError::EmptyPath);
            }
            Ok(LedgerSpec::Sqlite(PathBuf::from(path)))
        } else if let Some(rest) = s.strip_prefix("redis://") {
            let (addr, db) = rest.split_once('/').unwrap_or((rest, ""));
            host_port(addr)?;
            if !db.is_empty() && db.parse::<u32>().is_err() {
                return Err(LedgerSpecError::Database(s.to_owned()));
            }
            Ok(LedgerSpec::Redis { url: s.to_owned() })
        } else if let Some(rest) = s.strip_prefix("redis-cluster://") {
            let nodes = rest
                .split(',')
                .map(|a| host_port(a).map(|()| format!("redis://{a}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(LedgerSpec::RedisCluster { nodes })
        } else {
            Err(LedgerSpecError::Scheme(s.to_owned()))
        }
    }
}

impl fmt::Display for LedgerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerSpec::Memory => f.write_str("memory"),
            LedgerSpec::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            LedgerSpec::Redis { url } => f.write_str(url),
            LedgerSpec::RedisCluster { nodes } => {
                let addrs: Vec<_> = nodes
                    .iter()
                    .map(|n| n.trim_start_matches("redis://"))
                    .collect();
                write!(f, "redis-cluster://{}", addrs.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        assert_eq!("memory".parse(), Ok(LedgerSpec::Memory));
        assert_eq!(
            "sqlite:/tmp/l.db".parse(),
            Ok(LedgerSpec::Sqlite("/tmp/l.db".into()))
        );
        assert_eq!(
            "redis://127.0.0.1:6379".parse(),
            Ok(LedgerSpec::Redis {
                url: "redis://127.0.0.1:6379".into()
            })
        );
        assert_eq!(
            "redis://r:6379/2".parse(),
            Ok(LedgerSpec::Redis {
                url: "redis://r:6379/2".into()
            })
        );
        let c: LedgerSpec = "redis-cluster://a:7000,b:7001".parse().unwrap();
        assert_eq!(
            c,
            LedgerSpec::RedisCluster {
                nodes: vec!["redis://a:7000".into(), "redis://b:7001".into()]
            }
        );
        assert_eq!(c.to_string(), "redis-cluster://a:7000,b:7001");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let err = |s: &str| s.parse::<LedgerSpec>().unwrap_err();
        assert_eq!(
            err("postgres://x"),
            LedgerSpecError::Scheme("postgres://x".into())
        );
        assert_eq!(err("Memory"), LedgerSpecError::Scheme("Memory".into()));
        assert_eq!(err("sqlite:"), LedgerSpecError::EmptyPath);
        assert_eq!(err("redis://host"), LedgerSpecError::Address("host".into()));
        assert_eq!(
            err("redis://host:0"),
            LedgerSpecError::Address("host:0".into())
        );
        assert_eq!(
            err("redis://:6379"),
            LedgerSpecError::Address(":6379".into())
        );
        assert_eq!(
            err("redis://h:1/x"),
            LedgerSpecError::Database("redis://h:1/x".into())
        );
        assert_eq!(
            err("redis-cluster://a:1,"),
            LedgerSpecError::Address("".into())
        );
        assert!(err("redis://h:1/x").to_string().starts_with("--ledger:"));
    }
}
