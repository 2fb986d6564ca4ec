//! Paths into JSON and XML text, as `spath` reads them: `a.b.c` steps into objects (or child
//! elements), `{}` takes every element of an array (several values), `{N}` one of them —
//! "JSON uses zero-based indexing … In XML, this same path refers to the third desc child"
//! (XML counts from 1) — and `{@name}` an XML attribute.

/// The values at `path` in `text` (JSON when it starts with `{` or `[`, else XML); `None`
/// when the path leads nowhere.
pub(crate) fn extract(text: &str, path: &str) -> Option<Vec<String>> {
    let trimmed = text.trim_start();
    let steps = parse_path(path)?;
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        let mut found = Vec::new();
        walk_json(&value, &steps, &mut found);
        (!found.is_empty()).then_some(found)
    } else if trimmed.starts_with('<') {
        let found = xml_values(trimmed, &steps);
        (!found.is_empty()).then_some(found)
    } else {
        None
    }
}

/// Every path of a JSON or XML text with its values, as `spath` without a path extracts
/// them: JSON keys joined by `.`, arrays as `{}`; XML element names joined by `.`, attributes
/// as `{@name}`. Paths come in the order first seen.
pub(crate) fn flatten(text: &str) -> Vec<(String, Vec<String>)> {
    let trimmed = text.trim_start();
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |path: String, value: String| {
        if let Some((_, values)) = found.iter_mut().find(|(p, _)| *p == path) {
            values.push(value);
        } else {
            found.push((path, vec![value]));
        }
    };
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
            flatten_json(&value, String::new(), &mut add);
        }
    } else if trimmed.starts_with('<') {
        flatten_xml(trimmed, &mut add);
    }
    found
}

fn flatten_json(value: &serde_json::Value, path: String, add: &mut dyn FnMut(String, String)) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let next = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten_json(child, next, add);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                flatten_json(item, format!("{path}{{}}"), add);
            }
        }
        serde_json::Value::String(text) => add(path, text.clone()),
        serde_json::Value::Null => add(path, "null".to_owned()),
        other => add(path, other.to_string()),
    }
}

fn flatten_xml(text: &str, add: &mut dyn FnMut(String, String)) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut buffer = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Start(start)) => {
                stack.push(String::from_utf8_lossy(start.name().as_ref()).into_owned());
                let path = stack.join(".");
                for attr in start.attributes().flatten() {
                    let name = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    add(
                        format!("{path}{{@{name}}}"),
                        String::from_utf8_lossy(&attr.value).into_owned(),
                    );
                }
                buffer.clear();
            }
            Ok(Event::Empty(start)) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                let path =
                    if stack.is_empty() { name } else { format!("{}.{name}", stack.join(".")) };
                for attr in start.attributes().flatten() {
                    let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    add(
                        format!("{path}{{@{key}}}"),
                        String::from_utf8_lossy(&attr.value).into_owned(),
                    );
                }
            }
            Ok(Event::Text(text)) => buffer.push_str(&String::from_utf8_lossy(text.as_ref())),
            Ok(Event::End(_)) => {
                if !buffer.trim().is_empty() {
                    add(stack.join("."), std::mem::take(&mut buffer));
                }
                buffer.clear();
                stack.pop();
            }
            Ok(_) => {}
        }
    }
}

/// The text of every element that holds text and no element, by its name, as `xmlkv` reads
/// `<name>value</name>` pairs.
pub(crate) fn leaf_elements(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    flatten_xml(text.trim_start(), &mut |path: String, value: String| {
        if path.contains("{@") {
            return;
        }
        let name = path.rsplit('.').next().unwrap_or(&path).to_owned();
        if let Some((_, values)) = found.iter_mut().find(|(n, _)| *n == name) {
            values.push(value);
        } else {
            found.push((name, vec![value]));
        }
    });
    found
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    All,
    Index(usize),
    Attribute(String),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        let name_end = rest.find('{').unwrap_or(rest.len());
        if name_end > 0 {
            steps.push(Step::Key(rest[..name_end].to_owned()));
        }
        rest = &rest[name_end..];
        while let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}')?;
            let body = &inner[..close];
            steps.push(if body.is_empty() {
                Step::All
            } else if let Some(attribute) = body.strip_prefix('@') {
                Step::Attribute(attribute.to_owned())
            } else {
                Step::Index(body.parse().ok()?)
            });
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

fn walk_json(value: &serde_json::Value, steps: &[Step], found: &mut Vec<String>) {
    let Some((step, rest)) = steps.split_first() else {
        found.push(match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Null => "null".to_owned(),
            other => other.to_string(),
        });
        return;
    };
    match (step, value) {
        (Step::Key(key), serde_json::Value::Object(map)) => {
            if let Some(child) = map.get(key) {
                walk_json(child, rest, found);
            }
        }
        (Step::All, serde_json::Value::Array(items)) => {
            for item in items {
                walk_json(item, rest, found);
            }
        }
        (Step::Index(index), serde_json::Value::Array(items)) => {
            if let Some(item) = items.get(*index) {
                walk_json(item, rest, found);
            }
        }
        _ => {}
    }
}

/// The text of the elements (or attribute values) at `steps`, matched from the root element.
fn xml_values(text: &str, steps: &[Step]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut found = Vec::new();
    // The element names open from the root, each with the count of its same-named siblings
    // seen so far (for `{N}`, 1-based).
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut sibling_counts: Vec<std::collections::HashMap<String, usize>> =
        vec![std::collections::HashMap::default()];
    let mut capture: Option<(usize, String)> = None;
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        let event_kind = if matches!(event, Event::Empty(_)) { Kind::Empty } else { Kind::Other };
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let empty = matches!(event_kind, Kind::Empty);
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                let position = sibling_counts.last_mut().map_or(1, |counts| {
                    let n = counts.entry(name.clone()).or_insert(0);
                    *n += 1;
                    *n
                });
                stack.push((name, position));
                match matches_path(&stack, steps) {
                    PathMatch::Element if empty => found.push(String::new()),
                    PathMatch::Element => {
                        if capture.is_none() {
                            capture = Some((stack.len(), String::new()));
                        }
                    }
                    PathMatch::Attribute(attribute) => {
                        for attr in start.attributes().flatten() {
                            if attr.key.as_ref() == attribute.as_bytes() {
                                found.push(String::from_utf8_lossy(&attr.value).into_owned());
                            }
                        }
                    }
                    PathMatch::No => {}
                }
                if empty {
                    stack.pop();
                } else {
                    sibling_counts.push(std::collections::HashMap::new());
                }
            }
            Event::Text(text) => {
                if let Some((_, buffer)) = capture.as_mut() {
                    buffer.push_str(&String::from_utf8_lossy(text.as_ref()));
                }
            }
            Event::End(_) => {
                if let Some((depth, _)) = &capture
                    && *depth == stack.len()
                    && let Some((_, value)) = capture.take()
                {
                    found.push(value);
                }
                stack.pop();
                sibling_counts.pop();
            }
            _ => {}
        }
    }
    found
}

enum Kind {
    Empty,
    Other,
}

enum PathMatch<'s> {
    No,
    Element,
    Attribute(&'s str),
}

fn matches_path<'s>(stack: &[(String, usize)], steps: &'s [Step]) -> PathMatch<'s> {
    let mut depth = 0;
    let mut index = 0;
    while index < steps.len() {
        match &steps[index] {
            Step::Key(key) => {
                let Some((name, position)) = stack.get(depth) else { return PathMatch::No };
                if name != key {
                    return PathMatch::No;
                }
                if let Some(Step::Index(wanted)) = steps.get(index + 1) {
                    if position != wanted {
                        return PathMatch::No;
                    }
                    index += 1;
                }
                depth += 1;
            }
            Step::Attribute(attribute) if index + 1 == steps.len() => {
                return if depth == stack.len() {
                    PathMatch::Attribute(attribute)
                } else {
                    PathMatch::No
                };
            }
            Step::All | Step::Index(_) | Step::Attribute(_) => {}
        }
        index += 1;
    }
    if depth == stack.len() { PathMatch::Element } else { PathMatch::No }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_step_into_objects_and_arrays() {
        let json = r#"{"a":{"b":[{"c":1},{"c":"x"}]},"n":null}"#;
        assert_eq!(extract(json, "a.b{}.c"), Some(vec!["1".into(), "x".into()]));
        assert_eq!(extract(json, "a.b{1}.c"), Some(vec!["x".into()]));
        assert_eq!(extract(json, "a.z"), None);
        assert_eq!(extract("not json", "a"), None);
    }

    #[test]
    fn xml_paths_step_into_elements_and_attributes() {
        let xml = r#"<book year="1999"><title>A</title><title>B</title></book>"#;
        assert_eq!(extract(xml, "book.title"), Some(vec!["A".into(), "B".into()]));
        assert_eq!(extract(xml, "book.title{2}"), Some(vec!["B".into()]));
        assert_eq!(extract(xml, "book{@year}"), Some(vec!["1999".into()]));
    }
}
