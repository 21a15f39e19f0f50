//! Who is calling: the caller's number looked up in the tenant's customer
//! list, so routing can send a known customer to their own profile and the
//! agent can greet them by name.
//!
//! [`CustomerLookup`] is the interface the router uses; two sources come
//! with the crate: a CSV file read once at start ([`CsvCustomers`], for a
//! list kept in a spreadsheet) and a SQLite database queried per call
//! ([`SqliteCustomers`], for a list another program maintains). Numbers are
//! compared in E.164 ([`numbers`](crate::numbers)): the CSV may write them
//! in any form the tenant's country allows, and they are normalised when
//! the file is read; the SQLite table must already hold E.164.
//!
//! A failed lookup is an error the router logs and routes around (the call
//! goes on without a customer), never a reason to drop a call.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Deserialize;

use crate::config::{ConfigError, Validate};
use crate::numbers::{Normaliser, PhoneNumber};

/// A known caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The customer's number in E.164.
    pub number: String,
    /// The name the agent may greet them by.
    pub name: String,
    /// A profile that serves this customer instead of the DID's.
    pub profile: Option<String>,
    /// Anything else the list holds (account number, language, notes), by
    /// column name, for the agent.
    pub fields: BTreeMap<String, String>,
}

/// Why a customer list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// The file could not be opened or read.
    #[error("cannot read the customer list {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("customer list {source_name}, line {line}: {problem}")]
    Csv {
        /// The file (or the name the reader was given).
        source_name: String,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong there.
        problem: String,
    },
    /// The database could not be opened or queried.
    #[error("customer database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database is not laid out as expected.
    #[error("customer database: {0}")]
    Schema(String),
}

/// Finds the customer a caller is. Lookups may block (a database query):
/// call them where blocking is allowed (`spawn_blocking` in async code).
pub trait CustomerLookup: Send + Sync + fmt::Debug {
    /// The customer with this number, if there is one.
    fn find(&self, number: &PhoneNumber) -> Result<Option<Customer>, CustomerError>;
}

/// Where a tenant's customers are: exactly one of `csv` and `sqlite`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomersConfig {
    /// A CSV file with a header row: `number`, `name`, optional `profile`,
    /// any other columns become [`Customer::fields`].
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// A SQLite database with a `customers` table laid out the same way
    /// (numbers in E.164).
    #[serde(default)]
    pub sqlite: Option<PathBuf>,
}

impl Validate for CustomersConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        match (&self.csv, &self.sqlite) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(ConfigError::new(
                "csv",
                "give exactly one of `csv` and `sqlite`",
            )),
        }
    }
}

impl CustomersConfig {
    /// Opens the configured source; CSV numbers are read in `normaliser`'s
    /// country.
    pub fn open(&self, normaliser: &Normaliser) -> Result<Box<dyn CustomerLookup>, CustomerError> {
        match (&self.csv, &self.sqlite) {
            (Some(path), _) => Ok(Box::new(CsvCustomers::load(path, normaliser)?)),
            (None, Some(path)) => Ok(Box::new(SqliteCustomers::open(path)?)),
            (None, None) => Err(CustomerError::Schema(
                "no customer source configured".to_string(),
            )),
        }
    }
}

/// Customers read from a CSV file into memory.
#[derive(Debug, Clone, Default)]
pub struct CsvCustomers {
    by_number: HashMap<String, Customer>,
}

impl CsvCustomers {
    /// Reads `path`; numbers in national form are read in `normaliser`'s
    /// country. Refuses the whole file on a bad or repeated number, naming
    /// the line, rather than serving half a list.
    pub fn load(path: &Path, normaliser: &Normaliser) -> Result<Self, CustomerError> {
        let file = std::fs::File::open(path).map_err(|source| CustomerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file, &path.display().to_string(), normaliser)
    }

    /// Reads CSV from `reader`; `source_name` names it in errors.
    pub fn from_reader(
        reader: impl Read,
        source_name: &str,
        normaliser: &Normaliser,
    ) -> Result<Self, CustomerError> {
        let err = |line: u64, problem: String| CustomerError::Csv {
            source_name: source_name.to_string(),
            line,
            problem,
        };
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(reader);
        let headers: Vec<String> = csv
            .headers()
            .map_err(|e| err(1, e.to_string()))?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let number_col = column("number")
            .ok_or_else(|| err(1, "no `number` column in the header".to_string()))?;
        let name_col =
            column("name").ok_or_else(|| err(1, "no `name` column in the header".to_string()))?;
        let profile_col = column("profile");

        let mut by_number: HashMap<String, Customer> = HashMap::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        for record in csv.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let cell = |i: usize| record.get(i).unwrap_or("");
            let number = normaliser
                .setting_number(cell(number_col))
                .map_err(|problem| err(line, problem))?;
            let e164 = number.e164().to_string();
            if let Some(first) = first_line.insert(e164.clone(), line) {
                return Err(err(
                    line,
                    format!("{e164} is already the customer on line {first}"),
                ));
            }
            let profile = profile_col
                .map(cell)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            let fields = headers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != number_col && *i != name_col && Some(*i) != profile_col)
                .filter(|(i, _)| !cell(*i).is_empty())
                .map(|(i, h)| (h.clone(), cell(i).to_string()))
                .collect();
            by_number.insert(
                e164.clone(),
                Customer {
                    number: e164,
                    name: cell(name_col).to_string(),
                    profile,
                    fields,
                },
            );
        }
        tracing::info!(
            source = source_name,
            customers = by_number.len(),
            "customer list read"
        );
        Ok(CsvCustomers { by_number })
    }

    /// How many customers the file held.
    pub fn len(&self) -> usize {
        self.by_number.len()
    }

    /// Whether the file held none.
    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }
}

impl CustomerLookup for CsvCustomers {
    fn find(&self, number: &PhoneNumber) -> Result<Option<Customer>, CustomerError> {
        Ok(self.by_number.get(number.e164()).cloned())
    }
}

/// Customers in a SQLite table `customers`: columns `number` (E.164,
/// ideally the primary key), `name`, optional `profile`; every other
/// column is a free field. Queried once per call, so edits by another
/// program are seen at the next call.
#[derive(Debug)]
pub struct SqliteCustomers {
    conn: Mutex<Connection>,
}

impl SqliteCustomers {
    /// Opens the database at `path` read-only and checks the table.
    pub fn open(path: &Path) -> Result<Self, CustomerError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::from_connection(conn)
    }

    /// Uses an open connection (an in-memory database, one opened with
    /// other flags) after checking the table.
    pub fn from_connection(conn: Connection) -> Result<Self, CustomerError> {
        let columns: Vec<String> = {
            let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('customers')")?;
            let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
            names.collect::<Result<_, _>>()?
        };
        if columns.is_empty() {
            return Err(CustomerError::Schema("no `customers` table".to_string()));
        }
        for needed in ["number", "name"] {
            if !columns.iter().any(|c| c.eq_ignore_ascii_case(needed)) {
                return Err(CustomerError::Schema(format!(
                    "the `customers` table has no `{needed}` column"
                )));
            }
        }
        Ok(SqliteCustomers {
            conn: Mutex::new(conn),
        })
    }
}

fn text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

impl CustomerLookup for SqliteCustomers {
    fn find(&self, number: &PhoneNumber) -> Result<Option<Customer>, CustomerError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn.prepare_cached("SELECT * FROM customers WHERE number = ?1 LIMIT 1")?;
        let names: Vec<String> = stmt
            .column_names()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let customer = stmt
            .query_row([number.e164()], |row| {
                let mut customer = Customer {
                    number: number.e164().to_string(),
                    name: String::new(),
                    profile: None,
                    fields: BTreeMap::new(),
                };
                for (i, column) in names.iter().enumerate() {
                    let value = text(row.get_ref(i)?);
                    match column.as_str() {
                        "number" => {}
                        "name" => customer.name = value.unwrap_or_default(),
                        "profile" => customer.profile = value.filter(|p| !p.is_empty()),
                        _ => {
                            if let Some(v) = value {
                                customer.fields.insert(column.clone(), v);
                            }
                        }
                    }
                }
                Ok(customer)
            })
            .optional()?;
        Ok(customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it() -> Normaliser {
        Normaliser::new("IT").unwrap()
    }

    fn number(user: &str) -> PhoneNumber {
        it().normalise(user).number().unwrap().clone()
    }

    const LIST: &str = "\
number,name,profile,account,language
02 1234 5678,Rossi Srl,vip,A-100,it
+393471234567,Mario Bianchi,,A-200,
0044 20 7946 0018,London Ltd,,,en
";

    #[test]
    fn csv_customers_are_found_by_any_written_form_of_their_number() {
        let list = CsvCustomers::from_reader(LIST.as_bytes(), "test.csv", &it()).unwrap();
        assert_eq!(list.len(), 3);
        let rossi = list.find(&number("+390212345678")).unwrap().unwrap();
        assert_eq!(rossi.name, "Rossi Srl");
        assert_eq!(rossi.number, "+390212345678");
        assert_eq!(rossi.profile.as_deref(), Some("vip"));
        assert_eq!(rossi.fields["account"], "A-100");
        assert_eq!(rossi.fields["language"], "it");
        let mario = list.find(&number("3471234567")).unwrap().unwrap();
        assert_eq!(mario.profile, None);
        assert!(
            !mario.fields.contains_key("language"),
            "empty cells are no fields"
        );
        let london = list.find(&number("+442079460018")).unwrap().unwrap();
        assert_eq!(london.name, "London Ltd");
        assert_eq!(list.find(&number("0212345679")).unwrap(), None);
    }

    #[test]
    fn csv_with_a_bad_or_repeated_number_is_refused_naming_the_line() {
        let bad = "number,name\n0212345678,A\nalice,B\n";
        let e = CsvCustomers::from_reader(bad.as_bytes(), "c.csv", &it()).unwrap_err();
        assert!(matches!(e, CustomerError::Csv { line: 3, .. }), "{e}");
        let twice = "number,name\n0212345678,A\n+390212345678,B\n";
        let e = CsvCustomers::from_reader(twice.as_bytes(), "c.csv", &it()).unwrap_err();
        assert!(matches!(e, CustomerError::Csv { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
        let headless = "phone,name\n0212345678,A\n";
        let e = CsvCustomers::from_reader(headless.as_bytes(), "c.csv", &it()).unwrap_err();
        assert!(matches!(e, CustomerError::Csv { line: 1, .. }), "{e}");
        let ragged = "number,name\n0212345678,A,extra\n";
        assert!(CsvCustomers::from_reader(ragged.as_bytes(), "c.csv", &it()).is_err());
    }

    fn database(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE customers (number TEXT PRIMARY KEY, name TEXT NOT NULL,
                                     profile TEXT, account TEXT, credit INTEGER);
             INSERT INTO customers VALUES ('+390212345678', 'Rossi Srl', 'vip', 'A-100', 250);
             INSERT INTO customers VALUES ('+12125550123', 'NY Inc', NULL, NULL, NULL);",
        )
        .unwrap();
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("agent-customer-{}-{name}", std::process::id()))
    }

    #[test]
    fn sqlite_customers_are_found_with_their_free_fields() {
        let path = temp_path("find.sqlite");
        let _ = std::fs::remove_file(&path);
        database(&path);
        let config = CustomersConfig {
            csv: None,
            sqlite: Some(path.clone()),
        };
        config.validate().unwrap();
        let db = config.open(&it()).unwrap();
        let rossi = db.find(&number("0212345678")).unwrap().unwrap();
        assert_eq!(rossi.name, "Rossi Srl");
        assert_eq!(rossi.profile.as_deref(), Some("vip"));
        assert_eq!(rossi.fields["account"], "A-100");
        assert_eq!(rossi.fields["credit"], "250");
        let ny = db.find(&number("+12125550123")).unwrap().unwrap();
        assert_eq!((ny.profile, ny.fields.len()), (None, 0));
        assert_eq!(db.find(&number("0212345679")).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sqlite_without_the_customers_table_is_refused_at_open() {
        let conn = Connection::open_in_memory().unwrap();
        assert!(matches!(
            SqliteCustomers::from_connection(conn),
            Err(CustomerError::Schema(_))
        ));
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE customers (number TEXT, fullname TEXT)")
            .unwrap();
        let e = SqliteCustomers::from_connection(conn).unwrap_err();
        assert!(e.to_string().contains("`name`"), "{e}");
        assert!(SqliteCustomers::open(&temp_path("missing.sqlite")).is_err());
    }

    #[test]
    fn customers_config_loads_from_toml_and_wants_exactly_one_source() {
        let c: CustomersConfig = toml::from_str(r#"csv = "customers.csv""#).unwrap();
        assert_eq!(c.validate(), Ok(()));
        let both: CustomersConfig = toml::from_str("csv = \"a\"\nsqlite = \"b\"").unwrap();
        assert_eq!(both.validate().unwrap_err().setting, "csv");
        let none: CustomersConfig = toml::from_str("").unwrap();
        assert!(none.validate().is_err());
    }
}
