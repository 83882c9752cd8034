//! The journal of a data directory: `journal.jsonl`, one JSON line per committed transaction.
//!
//! A line is an array of the records the transaction touched, each in its full state after the
//! transaction: `{"o": object, "id": id, "d": deleted, "f": {field: value}}`. Replaying the lines
//! in order puts each record back as it was last written. A line is written and flushed to the
//! operating system under the write lock before the request is answered, so a committed write
//! survives the process; it is not fsynced, so a power cut may lose the last writes. A last line
//! cut short by a crash is ignored at replay.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use callforce_types::Id;
use serde_json::{Map, Value as J};

use super::{Data, Record, RowId, Table, Txn};
use crate::value::{self, Value};

const FILE: &str = "journal.jsonl";

/// The open journal file.
pub(super) struct Journal {
    file: File,
}

fn corrupt(line: usize, what: &str) -> crate::Error {
    crate::Error::Data(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{FILE} line {line}: {what}"),
    ))
}

impl Journal {
    /// Opens (creating it if needed) the journal in `dir`; returns it with the lines to replay.
    pub(super) fn open(dir: &Path) -> crate::Result<(Self, Vec<String>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE);
        let lines = if path.exists() {
            BufReader::new(File::open(&path)?)
                .lines()
                .collect::<std::io::Result<_>>()?
        } else {
            Vec::new()
        };
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((Self { file }, lines))
    }

    /// Appends one transaction's records as one line and flushes it.
    pub(super) fn append(&mut self, records: &[J]) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(records)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()
    }
}

/// Replays journal lines into a transaction; returns how many records were put back.
pub(super) fn replay(txn: &mut Txn<'_>, lines: &[String]) -> crate::Result<usize> {
    let mut count = 0;
    let last = lines.len();
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let recs: Vec<J> = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if n + 1 == last => {
                tracing::warn!(line = n + 1, "ignoring a journal line cut short");
                break;
            }
            Err(e) => return Err(corrupt(n + 1, &e.to_string())),
        };
        for r in &recs {
            let (table, rec) =
                parse_record(txn.data(), r).ok_or_else(|| corrupt(n + 1, "unreadable record"))?;
            txn.put_raw(table, rec);
            count += 1;
        }
    }
    Ok(count)
}

/// The journal form of the record at `row`.
pub(super) fn record_line(t: &Table, row: RowId) -> Option<J> {
    let rec = t.record(row)?;
    let mut f = Map::new();
    for (i, v) in rec.fields() {
        let def = t.def.fields.get(i)?;
        f.insert(def.name.clone(), value::to_json(def, v));
    }
    Some(serde_json::json!({
        "o": t.def.name,
        "id": rec.id(),
        "d": rec.deleted,
        "f": f,
    }))
}

fn parse_record(data: &Data, r: &J) -> Option<(usize, Record)> {
    let table = data.table_index(r.get("o")?.as_str()?)?;
    let def = &data.tables[table].def;
    let id = Id::parse(r.get("id")?.as_str()?).ok()?;
    let deleted = r.get("d")?.as_bool()?;
    let mut fields = Vec::new();
    for (k, v) in r.get("f")?.as_object()? {
        // A field dropped from the schema since is skipped, not fatal.
        let Some(i) = def.field_index(k) else {
            continue;
        };
        if let Some(val) = value::from_stored(&def.fields[i], v) {
            fields.push((u16::try_from(i).ok()?, val));
        }
    }
    fields.sort_by_key(|(k, _)| *k);
    Some((
        table,
        Record {
            id: Value::Id(id),
            deleted,
            fields: fields.into_boxed_slice(),
        },
    ))
}
