//! How durations, lists of durations and byte sizes are written in the configuration: the
//! `#[serde(with = …)]` forms.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Durations written `300s`, `1h`, `1h 30m` (humantime), or a bare number of seconds.
pub mod duration {
    use super::*;

    pub(crate) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<u64>() {
            return Ok(Duration::from_secs(secs));
        }
        humantime::parse_duration(text)
            .map_err(|e| format!("'{text}' is not a duration like 300s, 18s or 1h: {e}"))
    }

    /// Serialises as humantime text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Accepts text or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

pub(super) mod duration_list {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let parts: Vec<String> = v
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        s.serialize_str(&parts.join(","))
    }

    /// Accepts `"3s,18s,108s"` (as environment variables write lists) or a TOML array.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            List(Vec<String>),
        }
        let parts = match Raw::deserialize(d)? {
            Raw::Text(t) => t.split(',').map(str::to_owned).collect(),
            Raw::List(l) => l,
        };
        parts
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| duration::parse(p).map_err(serde::de::Error::custom))
            .collect()
    }
}

pub(super) mod byte_size {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        let text = match *v {
            n if n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
            n if n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
            n if n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
            n => n.to_string(),
        };
        s.serialize_str(&text)
    }

    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("'{t}' is not a size like 1MiB, 512KiB or 1048576"))?;
        let mult = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "KB" | "k" | "K" => 1 << 10,
            "MiB" | "MB" | "M" => 1 << 20,
            "GiB" | "GB" | "G" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit '{other}' in '{t}': use B, KiB, MiB or GiB"
                ));
            }
        };
        Ok(n * mult)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(n),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }
}
