//! An event's search-time fields as Splunk's Windows and Sysmon add-ons give them: `_raw`,
//! `_time`, `host`, `source`, `sourcetype`, `eventtype`, the System fields, every
//! `<Data Name='X'>` as `X`, and the add-ons' aliases and calculated fields (`process_name`,
//! `dest`, `registry_path`, …). [`SplunkEvent`] computes a field when it is asked for; nothing
//! is materialised until a result row wants every field ([`SplunkEvent::fields`]).
//!
//! The derived fields are data: one table per event source (`tables`), each entry a field
//! name and a rule that says where its value comes from. Where a field comes from is
//! documented at its table. Data model records are built from these fields
//! (`crate::datamodel`); this module knows nothing of data models.
//!
//! # Which value a name gives
//!
//! Splunk runs field extractions first, then `FIELDALIAS`, then calculated fields: "Field
//! aliasing is performed at search time, after field extraction, but before calculated fields
//! (EVAL-* statements) and lookups"; with `AS`, "If the alias field name … already exists,
//! the Splunk software replaces its value"; calculated fields "behave as if they are run in
//! parallel" (props.conf.spec). So a derived field wins over an extracted one of the same
//! name, and a rule reads extracted fields only. Where a derived field's sources are all
//! missing, the extracted field of that name, if any, is left as it was (`ASNEW`'s rule, not
//! `AS`'s, which removes it): the same tables serve XML events and classic ones, whose
//! add-on stanza has none of these aliases, and no XML event holds a field under a derived
//! name. Extracted fields are looked up System first, then the parts extracted whole
//! (`EventData_Xml`), then `Data`.

mod tables;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::eval::FieldValue;
use crate::events::{Event, RawFormat, ValueForm};
pub use tables::Family;
use tables::Table;

/// Where an input's events were indexed: `source`, `sourcetype` and `host`. Each is given
/// (by the rule test's `attack_data` entry, or on the command line) or, when not, derived per
/// event the way the Windows add-on derives it.
///
/// Derived values: `source` is `XmlWinEventLog:<Channel>` for XML, EVTX and JSON events and
/// `WinEventLog:<LogName>` for classic text events, as the add-on's index-time transforms
/// write them (`ta-windows-fix-xml-source`: `<Channel>(.+?)</Channel>` to
/// `source::XmlWinEventLog:$1`; `ta-windows-fix-classic-source`: `^LogName=(.+?)\s*$` to
/// `source::WinEventLog:$1`); `sourcetype` is `XmlWinEventLog` or `WinEventLog` ("All
/// `WinEventLogs` are now assigned to either the `WinEventLog` or the `XmlWinEventLog`
/// sourcetype and are distinguished by their source", Splunk Add-on for Windows 6.0.0
/// upgrade notes);
/// `host` is the event's `Computer` (`ComputerName`), the machine a forwarder on it would
/// name. An event with no channel gets the name of the file it came from as its `source`,
/// as a monitored file would.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Origin {
    source: Option<String>,
    sourcetype: Option<String>,
    host: Option<String>,
}

impl Origin {
    /// Everything derived from each event.
    pub fn derived() -> Self {
        Origin::default()
    }

    /// `source` and `sourcetype` as a rule test's `attack_data` entry gives them.
    pub fn given(source: impl Into<String>, sourcetype: impl Into<String>) -> Self {
        Origin { source: Some(source.into()), sourcetype: Some(sourcetype.into()), host: None }
    }

    /// `source` and `sourcetype` where given, each derived from the event where not.
    pub fn given_or_derived(source: Option<&str>, sourcetype: Option<&str>) -> Self {
        Origin {
            source: source.map(str::to_owned),
            sourcetype: sourcetype.map(str::to_owned),
            host: None,
        }
    }

    /// The same with `source` set.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same with `sourcetype` set.
    #[must_use]
    pub fn with_sourcetype(mut self, sourcetype: impl Into<String>) -> Self {
        self.sourcetype = Some(sourcetype.into());
        self
    }

    /// The same with `host` set.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The given `source`, if any.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The given `sourcetype`, if any.
    pub fn sourcetype(&self) -> Option<&str> {
        self.sourcetype.as_deref()
    }

    /// The given `host`, if any.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

/// An eventtype the content relies on, as the add-on that ships it defines it: the event's
/// `source` is one of `sources` (compared as a search compares values, ignoring case) and,
/// when given, its `EventCode` is one of `codes`.
struct EventType {
    name: &'static str,
    sources: &'static [&'static str],
    codes: &'static [u32],
}

const SYSMON_SOURCES: &[&str] = &[
    "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
    "WinEventLog:Microsoft-Windows-Sysmon/Operational",
];

/// The eventtypes, in the order Splunk lists them on an event (by name).
///
/// - `wineventlog_*`: Splunk Add-on for Microsoft Windows, `eventtypes.conf`:
///   `[wineventlog_security] search = source=WinEventLog:Security OR
///   source=WMI:WinEventLog:Security OR source=XmlWinEventLog:Security`, and the same for
///   `Application` and `System`; `wineventlog-ds` for `Directory Service`.
/// - `ms-sysmon-*`: the Sysmon add-on's `eventtypes.conf` (by `EventCode` on the Sysmon
///   source): process `1 5 6 8 9 10 15 17 18`, network `3`, filemod `2 11`, regmod `12 13 14`,
///   wmimod `19 20 21`, dns `22`; and, as the data sources of 7 and 23 list an `eventtype`,
///   7 with process (reading) and 23, 26 with filemod (reading).
const EVENT_TYPES: &[EventType] = &[
    EventType { name: "ms-sysmon-dns", sources: SYSMON_SOURCES, codes: &[22] },
    EventType { name: "ms-sysmon-filemod", sources: SYSMON_SOURCES, codes: &[2, 11, 23, 26] },
    EventType { name: "ms-sysmon-network", sources: SYSMON_SOURCES, codes: &[3] },
    EventType {
        name: "ms-sysmon-process",
        sources: SYSMON_SOURCES,
        codes: &[1, 5, 6, 7, 8, 9, 10, 15, 17, 18],
    },
    EventType { name: "ms-sysmon-regmod", sources: SYSMON_SOURCES, codes: &[12, 13, 14] },
    EventType { name: "ms-sysmon-wmimod", sources: SYSMON_SOURCES, codes: &[19, 20, 21] },
    EventType {
        name: "wineventlog-ds",
        sources: &["WinEventLog:Directory Service", "XmlWinEventLog:Directory Service"],
        codes: &[],
    },
    EventType {
        name: "wineventlog_application",
        sources: &[
            "WinEventLog:Application",
            "WMI:WinEventLog:Application",
            "XmlWinEventLog:Application",
        ],
        codes: &[],
    },
    EventType {
        name: "wineventlog_security",
        sources: &["WinEventLog:Security", "WMI:WinEventLog:Security", "XmlWinEventLog:Security"],
        codes: &[],
    },
    EventType {
        name: "wineventlog_system",
        sources: &["WinEventLog:System", "WMI:WinEventLog:System", "XmlWinEventLog:System"],
        codes: &[],
    },
];

/// The fields every event has whatever its source, before any table.
const INDEXED_FIELDS: &[&str] =
    &["_raw", "_time", "eventtype", "host", "linecount", "source", "sourcetype"];

/// A value while it is looked up: borrowed from the event where it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Val<'a> {
    /// The value as one string, a multivalue's values joined by newlines.
    pub(crate) fn into_joined(self) -> String {
        match self {
            Val::One(value) => value.into_owned(),
            Val::Many(values) => values.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join("\n"),
        }
    }

    pub(crate) fn into_field_value(self) -> FieldValue {
        match self {
            Val::One(value) => FieldValue::Single(value.into_owned()),
            Val::Many(values) => {
                FieldValue::Multi(values.into_iter().map(Cow::into_owned).collect())
            }
        }
    }

    fn any(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        match self {
            Val::One(value) => test(value),
            Val::Many(values) => values.iter().any(|value| test(value)),
        }
    }

    /// The first value.
    pub(crate) fn first(&self) -> Option<&str> {
        match self {
            Val::One(value) => Some(value),
            Val::Many(values) => values.first().map(AsRef::as_ref),
        }
    }

    pub(crate) fn one(value: impl Into<Cow<'a, str>>) -> Self {
        Val::One(value.into())
    }
}

/// See [`SplunkEvent::source_parts`].
enum SourceParts<'a> {
    Whole(&'a str),
    Channel(&'static str, &'a str),
}

/// An event seen as Splunk sees it at search time: its fields by name, computed on demand.
/// Building one is cheap (it picks the tables of the event's source); every lookup walks at
/// most three short tables and the event's own fields, and borrows from the event where it
/// can.
#[derive(Debug, Clone, Copy)]
pub struct SplunkEvent<'a> {
    event: &'a Event,
    origin: &'a Origin,
    family: Family,
    tables: [Table; 6],
}

/// For each entry of `table`, the index of its name in `wanted` (sorted, distinct), or
/// `u16::MAX` when it is not there. Both are static, so this is worked out once per pair
/// and thread: searching `wanted` for every table entry of every event cost about a sixth
/// of reading and mapping an export.
fn positions_in(table: Table, wanted: &'static [&'static str]) -> std::rc::Rc<[u16]> {
    let list = (table.as_ptr() as usize, table.len());
    positions_of(list, || table.iter().map(|(name, _)| *name), wanted)
}

/// [`positions_in`] for the names of a static list known by its address and length, `list`.
fn positions_of<I: Iterator<Item = &'static str>>(
    list: (usize, usize),
    names: impl FnOnce() -> I,
    wanted: &'static [&'static str],
) -> std::rc::Rc<[u16]> {
    type Key = (usize, usize, usize, usize);
    // A few dozen pairs at most (tables by data model datasets): a list searched in order
    // costs less than hashing the key.
    thread_local! {
        static CACHE: std::cell::RefCell<Vec<(Key, std::rc::Rc<[u16]>)>> =
            std::cell::RefCell::default();
    }
    let key = (list.0, list.1, wanted.as_ptr() as usize, wanted.len());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, positions)) = cache.iter().find(|(each, _)| *each == key) {
            return std::rc::Rc::clone(positions);
        }
        let positions: std::rc::Rc<[u16]> = names()
            .map(|name| {
                wanted
                    .binary_search(&name)
                    .ok()
                    .and_then(|at| u16::try_from(at).ok())
                    .unwrap_or(u16::MAX)
            })
            .collect();
        cache.push((key, std::rc::Rc::clone(&positions)));
        positions
    })
}

impl<'a> SplunkEvent<'a> {
    /// The view of `event` read from an input whose origin is `origin`.
    pub fn new(event: &'a Event, origin: &'a Origin) -> Self {
        let family = Family::of(event);
        SplunkEvent { event, origin, family, tables: tables::tables_for(family, event.event_id) }
    }

    /// The event underneath.
    pub fn event(&self) -> &'a Event {
        self.event
    }

    /// The add-on family of the event's source, which picks its tables.
    pub fn family(&self) -> Family {
        self.family
    }

    /// `_raw`: the event's text.
    pub fn raw(&self) -> &'a str {
        &self.event.raw
    }

    /// `_time` in microseconds since the Unix epoch, UTC.
    pub fn time_micros(&self) -> i64 {
        self.event.time_micros
    }

    /// `EventCode` as a number (the XML `EventID`, a classic event's `EventCode`).
    pub fn event_code(&self) -> u32 {
        self.event.event_id
    }

    /// `source`: given by the origin or derived (see [`Origin`]).
    pub fn source(&self) -> Cow<'a, str> {
        match self.source_parts() {
            SourceParts::Whole(source) => Cow::Borrowed(source),
            SourceParts::Channel(prefix, channel) => Cow::Borrowed(
                self.event.derived_source.get_or_init(|| format!("{prefix}{channel}")),
            ),
        }
    }

    /// How [`SplunkEvent::source`] is made: given whole (by the origin, or the input's
    /// name when the event has no channel), or a prefix for the event's format and the
    /// channel.
    fn source_parts(&self) -> SourceParts<'a> {
        let event = self.event;
        match (self.origin.source(), event.raw_format, event.channel.is_empty()) {
            (Some(source), _, _) => SourceParts::Whole(source),
            (None, _, true) => SourceParts::Whole(&event.location.source),
            (None, RawFormat::Classic, false) => {
                SourceParts::Channel("WinEventLog:", &event.channel)
            }
            (None, RawFormat::Xml | RawFormat::Json, false) => {
                SourceParts::Channel("XmlWinEventLog:", &event.channel)
            }
        }
    }

    /// `sourcetype`: given by the origin or derived (see [`Origin`]).
    pub fn sourcetype(&self) -> &'a str {
        match (self.origin.sourcetype(), self.event.raw_format) {
            (Some(sourcetype), _) => sourcetype,
            (None, RawFormat::Classic) => "WinEventLog",
            (None, RawFormat::Xml | RawFormat::Json) => "XmlWinEventLog",
        }
    }

    /// `host`: given by the origin, else the event's computer.
    pub fn host(&self) -> &'a str {
        self.origin.host().unwrap_or(&self.event.computer)
    }

    /// Every eventtype the event has, by name.
    pub fn eventtypes(&self) -> Vec<&'static str> {
        EVENT_TYPES
            .iter()
            .filter(|kind| {
                (kind.codes.is_empty() || kind.codes.contains(&self.event.event_id))
                    && kind.sources.iter().any(|want| self.source_is(want))
            })
            .map(|kind| kind.name)
            .collect()
    }

    /// Whether [`SplunkEvent::source`] is `want`, ignoring ASCII case, without writing it
    /// out: an event's eventtypes are asked by every search over raw events that names one.
    fn source_is(&self, want: &str) -> bool {
        match self.source_parts() {
            SourceParts::Whole(source) => want.eq_ignore_ascii_case(source),
            SourceParts::Channel(prefix, channel) => {
                want.len() == prefix.len() + channel.len()
                    && want
                        .get(..prefix.len())
                        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
                    && want
                        .get(prefix.len()..)
                        .is_some_and(|rest| rest.eq_ignore_ascii_case(channel))
            }
        }
    }

    /// The value of field `name`, or `None` when the event has no such field (null).
    pub fn value(&self, name: &str) -> Option<FieldValue> {
        self.lookup(name).map(Val::into_field_value)
    }

    /// Whether any value of `name` passes `test`; `None` when the field is null. Costs no
    /// allocation for fields held verbatim by the event.
    pub fn any_value(&self, name: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        self.lookup(name).map(|value| value.any(test))
    }

    /// The value of `name` as it is looked up, borrowed where it can be.
    pub(crate) fn lookup(&self, name: &str) -> Option<Val<'a>> {
        if let Some(value) = self.indexed(name) {
            return Some(value);
        }
        for table in self.tables {
            if let Some(rule) = tables::rule(table, name) {
                if let Some(value) = rule.eval(self) {
                    return Some(value);
                }
                // A derived field without its sources leaves any extracted one as it is.
                break;
            }
        }
        self.extracted(name)
    }

    /// `_raw`, `_time` and the fields Splunk sets when it indexes the event.
    fn indexed(&self, name: &str) -> Option<Val<'a>> {
        Some(match name {
            "_raw" => Val::one(self.raw()),
            "_time" => Val::one(crate::eval::epoch_seconds(self.event.time_micros)),
            "host" => Val::one(self.host()),
            "source" => Val::One(self.source()),
            "sourcetype" => Val::one(self.sourcetype()),
            "eventtype" => {
                let kinds = self.eventtypes();
                match kinds.as_slice() {
                    [] => return None,
                    [one] => Val::one(*one),
                    _ => Val::Many(kinds.into_iter().map(Cow::Borrowed).collect()),
                }
            }
            // "linecount: the number of lines in the event" (Splunk's default fields).
            "linecount" => Val::one((self.raw().lines().count().max(1)).to_string()),
            _ => return None,
        })
    }

    /// A field as extracted from the event's text: System, a part taken whole, or `Data`.
    pub(crate) fn extracted(&self, name: &str) -> Option<Val<'a>> {
        let event = self.event;
        if let Some(value) = event.system_field(name) {
            return Some(Val::one(value));
        }
        if let Some(value) = event.xml_part(name) {
            return Some(Val::one(value));
        }
        let mut values = event.data_values(name);
        let first = values.next()?;
        match values.next() {
            None => Some(Val::one(first)),
            Some(second) => {
                let mut all = vec![Cow::Borrowed(first), Cow::Borrowed(second)];
                all.extend(values.map(Cow::Borrowed));
                Some(Val::Many(all))
            }
        }
    }

    /// Calls `found` with each field of `wanted` (sorted, distinct names) that the event has
    /// and its value, the value [`SplunkEvent::value`] gives; each name once. One pass over
    /// the event's tables and fields rather than a lookup per wanted name, for the data model.
    pub(crate) fn fields_among(
        &self,
        wanted: &'static [&'static str],
        found: &mut dyn FnMut(&'static str, Val<'a>),
    ) {
        // Which wanted names are decided; a data model has fewer than 128 fields.
        let mut storage = [false; 128];
        let mut spill = Vec::new();
        let done: &mut [bool] = if wanted.len() <= storage.len() {
            &mut storage
        } else {
            spill.resize(wanted.len(), false);
            &mut spill
        };
        // Most of an event's names (`Image`, `EventCode`) start upper-case; the wanted ones,
        // CIM names, never do: those are passed over without a search.
        let lower_first =
            wanted.iter().all(|name| name.starts_with(|c: char| !c.is_ascii_uppercase()));
        let first = |name: &str, done: &mut [bool]| {
            if lower_first && name.starts_with(|c: char| c.is_ascii_uppercase()) {
                return None;
            }
            let at = wanted.binary_search(&name).ok()?;
            let fresh = !std::mem::replace(done.get_mut(at)?, true);
            fresh.then(|| wanted.get(at).copied()).flatten()
        };
        // Every event has these: where they fall in `wanted` is worked out once.
        let list = (INDEXED_FIELDS.as_ptr() as usize, INDEXED_FIELDS.len());
        for &at in positions_of(list, || INDEXED_FIELDS.iter().copied(), wanted).iter() {
            let at = usize::from(at);
            let (Some(&name), Some(done)) = (wanted.get(at), done.get_mut(at)) else {
                continue;
            };
            if !std::mem::replace(done, true)
                && let Some(value) = self.indexed(name)
            {
                found(name, value);
            }
        }
        for table in self.tables {
            let positions = positions_in(table, wanted);
            for ((_, rule), &at) in table.iter().zip(positions.iter()) {
                let at = usize::from(at);
                let (Some(&name), Some(done)) = (wanted.get(at), done.get_mut(at)) else {
                    continue;
                };
                if !std::mem::replace(done, true)
                    && let Some(value) = rule.eval(self).or_else(|| self.extracted(name))
                {
                    found(name, value);
                }
            }
        }
        let event = self.event;
        let extracted = event
            .system
            .iter()
            .map(|(name, _)| name)
            .chain(event.xml_parts.iter().map(|(name, _)| name.as_ref()))
            .chain(event.data.iter().map(|(name, _)| name));
        for name in extracted {
            if let Some(name) = first(name, done)
                && let Some(value) = self.extracted(name)
            {
                found(name, value);
            }
        }
    }

    /// Whether every value of `name` in this event is a verbatim substring of its `_raw`
    /// (as written: entities, case and line breaks as the text has them). A prefilter on raw
    /// bytes may use literals only from such fields. Computed values (lower-cased, looked up,
    /// joined, constants, `_time`, `source`) are not; values decoded from JSON or EVTX are not
    /// (their text differs from `_raw` wherever it escapes); a field the event does not have is
    /// verbatim, as no value can match it.
    pub fn is_verbatim(&self, name: &str) -> bool {
        if INDEXED_FIELDS.contains(&name) {
            return match name {
                "_raw" => true,
                "host" => self.origin.host().is_none() && self.extracted_verbatim(),
                _ => false,
            };
        }
        for table in self.tables {
            if let Some(rule) = tables::rule(table, name) {
                if rule.eval(self).is_some() {
                    return rule.is_verbatim() && self.extracted_verbatim();
                }
                break;
            }
        }
        if self.event.xml_part(name).is_some() {
            return true;
        }
        self.extracted_verbatim()
    }

    /// Whether the event's extracted values are slices of its `_raw`.
    fn extracted_verbatim(&self) -> bool {
        matches!(self.event.value_form, ValueForm::XmlRaw | ValueForm::ClassicText)
    }

    /// Every field of the event with its value, by name: what the event shows as a result
    /// row.
    pub fn fields(&self) -> BTreeMap<String, FieldValue> {
        self.sorted_fields(None).into_iter().collect()
    }

    /// [`SplunkEvent::fields`] as pairs in name order: what a search over raw events makes
    /// a row of, for every event it reads; with `only`, only those and the internal ones
    /// (see [`crate::eval::EventFields::fields_named`]). A field's value depends on its name
    /// alone, so each name is looked up once, after sorting.
    fn sorted_fields(&self, only: Option<&BTreeSet<String>>) -> Vec<(String, FieldValue)> {
        let mut names: Vec<&'a str> = INDEXED_FIELDS.to_vec();
        for table in self.tables {
            names.extend(table.iter().map(|(name, _)| *name));
        }
        names.extend(self.event.system.iter().map(|(name, _)| name));
        names.extend(self.event.xml_parts.iter().map(|(name, _)| name.as_ref()));
        names.extend(self.event.data.iter().map(|(name, _)| name));
        // A search names a few of an event's fifty or so fields: those are kept before the
        // sort, which cost more than the lookups.
        if let Some(only) = only {
            names.retain(|name| name.starts_with('_') || only.contains(*name));
        }
        names.sort_unstable();
        names.dedup();
        names.into_iter().filter_map(|name| Some((name.to_owned(), self.value(name)?))).collect()
    }
}

/// What a search over raw events reads of an event: its fields as Splunk gives them.
impl crate::eval::EventFields for SplunkEvent<'_> {
    fn time_micros(&self) -> i64 {
        self.event.time_micros
    }

    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        SplunkEvent::any_value(self, field, test)
    }

    fn fields(&self) -> Vec<(String, FieldValue)> {
        self.sorted_fields(None)
    }

    fn fields_named(&self, names: &BTreeSet<String>) -> Vec<(String, FieldValue)> {
        self.sorted_fields(Some(names))
    }
}

/// Whether field `name` is a verbatim substring of `_raw` in every event read from an XML
/// export, whatever its source and `EventCode` (see [`SplunkEvent::is_verbatim`]): the
/// question a prefilter on the bytes of XML export events asks before it parses any.
pub fn is_verbatim_in_xml_export(name: &str) -> bool {
    if INDEXED_FIELDS.contains(&name) {
        return name == "_raw";
    }
    tables::every_rule_named(name).all(tables::Rule::is_verbatim)
}

/// For events of `family` and `code` read from an XML export: whether the table that derives
/// `name` gives verbatim values (`Some`), or `None` when no table derives it and its value, if
/// any, is the field as extracted (verbatim).
pub(crate) fn derived_is_verbatim(family: Family, code: u32, name: &str) -> Option<bool> {
    if INDEXED_FIELDS.contains(&name) {
        return Some(name == "_raw");
    }
    tables::tables_for(family, code)
        .into_iter()
        .find_map(|table| tables::rule(table, name))
        .map(tables::Rule::is_verbatim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventtypes_are_sorted_by_name() {
        assert!(EVENT_TYPES.windows(2).all(|pair| pair[0].name < pair[1].name));
    }

    #[test]
    fn a_source_is_compared_as_the_written_out_source_is() {
        let location = |source: &str| crate::events::Location {
            source: source.into(),
            line: None,
            byte_offset: None,
            record: None,
        };
        let mut events = Vec::new();
        for (format, channel, file) in [
            (RawFormat::Xml, "Microsoft-Windows-Sysmon/Operational", "a.log"),
            (RawFormat::Json, "security", "a.json"),
            (RawFormat::Classic, "Security", "b.log"),
            (RawFormat::Xml, "", "XmlWinEventLog:Security"),
            (RawFormat::Xml, "Säkerhet", "c.log"),
        ] {
            let mut event = Event::empty(ValueForm::Plain, format, location(file));
            event.channel = channel.to_owned();
            event.event_id = 4688;
            events.push(event);
        }
        let origins = [Origin::derived(), Origin::given("WinEventLog:Security", "WinEventLog")];
        let mut wants: Vec<&str> =
            EVENT_TYPES.iter().flat_map(|kind| kind.sources).copied().collect();
        wants.extend(["XmlWinEventLog:", "XmlWinEventLog:säkerhet", "XMLWINEVENTLOG:SECURITY", ""]);
        for event in &events {
            for origin in &origins {
                let view = SplunkEvent::new(event, origin);
                for want in &wants {
                    let written = want.eq_ignore_ascii_case(&view.source());
                    assert_eq!(view.source_is(want), written, "{want} against {}", view.source());
                }
            }
        }
    }
}
