//! The CIM data models this tool knows, as data: for each model and node (`Endpoint.Processes`,
//! `Network_Traffic.All_Traffic`, …) its parent, the search that selects its events, and its
//! fields with their type and multivalue flag, calculated fields included with the expression
//! that computes them. Written from the definitions of Splunk's Common Information Model
//! (`Splunk_SA_CIM`, CIM 8.5) for Endpoint, `Network_Traffic`, `Network_Resolution`,
//! Authentication and Change; nothing here evaluates anything.
//!
//! ```
//! use detection::cim;
//!
//! let processes = cim::node("Endpoint", "Processes").unwrap();
//! assert!(processes.field("process_name").is_some());
//! assert!(processes.field("proces_name").is_none());
//! let allowed = cim::node("Network_Traffic", "Allowed_Traffic").unwrap();
//! assert_eq!(allowed.root().name, "All_Traffic");
//! assert!(allowed.field("dest_port").is_some());
//! ```

/// The value type of a field, as the data model declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FieldType {
    /// `string`.
    Text,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
    /// `timestamp`.
    Timestamp,
}

/// How the data model computes a calculated field at search time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Calculation {
    /// An `eval` expression over the event's fields, in Splunk's syntax.
    Eval(&'static str),
    /// The output of a lookup, by the lookup's name.
    Lookup(&'static str),
}

/// A field of a data model node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    /// The name without the node prefix (`process_name`).
    pub name: &'static str,
    /// The declared type. The definitions do not keep a type for calculated fields; they are
    /// `Number` here when the expression only yields numbers (`if(isnum(x),x,0)`), else `Text`.
    pub kind: FieldType,
    /// Whether a value may hold several values.
    pub multivalue: bool,
    /// How the data model computes the field, when it does (`None`: extracted by add-ons).
    pub calculation: Option<Calculation>,
}

impl Field {
    /// Whether the data model replaces a missing or empty value with `unknown` (its
    /// `if(isnull(f) OR f="","unknown",f)` calculations), so `by` clauses never drop a row for it.
    pub fn fills_unknown(&self) -> bool {
        matches!(self.calculation, Some(Calculation::Eval(expression))
            if expression.starts_with(&format!("if(isnull({}) OR {}=\"\",\"unknown\",", self.name, self.name)))
    }
}

/// Which events a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Search {
    /// A root node's whole base search (the Endpoint model's nodes).
    Base(&'static str),
    /// Constraints added to the parent's search (every other model); a root's start with the
    /// model's index macro.
    Constraints(&'static [&'static str]),
}

/// A node (dataset) of a data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Node {
    /// The model (`Network_Traffic`).
    pub model: &'static str,
    /// The node (`Allowed_Traffic`).
    pub name: &'static str,
    /// The parent node's name; `None` for a root, whose parent is Splunk's `BaseEvent` or
    /// `BaseSearch`.
    pub parent: Option<&'static str>,
    /// The events the node selects.
    pub search: Search,
    /// Fields the node declares itself; it also has its ancestors' and [`INHERITED`].
    pub own_fields: &'static [Field],
}

/// Fields every node inherits from Splunk's root object: `_time`, `host`, `source`,
/// `sourcetype`.
pub const INHERITED: &[Field] = &[
    field("_time", FieldType::Timestamp, false),
    field("host", FieldType::Text, false),
    field("source", FieldType::Text, false),
    field("sourcetype", FieldType::Text, false),
];

/// The models, in the order of [`nodes`].
pub const MODELS: [&str; 5] =
    ["Endpoint", "Network_Traffic", "Network_Resolution", "Authentication", "Change"];

/// The node `name` of `model` (`node("Endpoint", "Processes")`).
pub fn node(model: &str, name: &str) -> Option<&'static Node> {
    NODES.iter().find(|node| node.model == model && node.name == name)
}

/// The node called `name` in any model: node names are unique across these models.
pub fn node_named(name: &str) -> Option<&'static Node> {
    NODES.iter().find(|node| node.name == name)
}

/// Every node, parents before children.
pub fn nodes() -> &'static [Node] {
    NODES
}

impl Node {
    /// The parent node; `None` for a root.
    pub fn parent_node(&self) -> Option<&'static Node> {
        node(self.model, self.parent?)
    }

    /// The node and its ancestors, the node first (`Allowed_Traffic`, `Traffic_By_Action`,
    /// `All_Traffic`).
    pub fn lineage(&self) -> Vec<&Node> {
        let mut chain = vec![self];
        while let Some(parent) = chain.last().and_then(|node| node.parent_node()) {
            chain.push(parent);
        }
        chain
    }

    /// The root of the node's tree, whose name prefixes its fields in searches
    /// (`All_Traffic.dest_port` for every `Network_Traffic` node).
    pub fn root(&self) -> &Node {
        self.lineage().last().copied().unwrap_or(self)
    }

    /// Every field of the node: its own, its ancestors', then [`INHERITED`].
    pub fn fields(&self) -> impl Iterator<Item = &'static Field> + '_ {
        self.lineage().into_iter().flat_map(|node| node.own_fields.iter()).chain(INHERITED)
    }

    /// The field `name` (without the node prefix), if the node has it.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields().find(|field| field.name == name)
    }
}

const fn field(name: &'static str, kind: FieldType, multivalue: bool) -> Field {
    Field { name, kind, multivalue, calculation: None }
}

const fn calculated(name: &'static str, kind: FieldType, calculation: Calculation) -> Field {
    Field { name, kind, multivalue: false, calculation: Some(calculation) }
}

const ENDPOINT_PORTS: &[Field] = &[
    field("creation_time", FieldType::Timestamp, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_port", FieldType::Number, false),
    field("dest_priority", FieldType::Text, false),
    field("dest_requires_av", FieldType::Boolean, false),
    field("dest_should_timesync", FieldType::Boolean, false),
    field("dest_should_update", FieldType::Boolean, false),
    field("process_guid", FieldType::Text, false),
    field("process_id", FieldType::Text, false),
    field("src_bunit", FieldType::Text, false),
    field("src_category", FieldType::Text, true),
    field("src_priority", FieldType::Text, false),
    field("src_requires_av", FieldType::Boolean, false),
    field("src_should_timesync", FieldType::Boolean, false),
    field("src_should_update", FieldType::Boolean, false),
    field("state", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("transport", FieldType::Text, false),
    field("transport_dest_port", FieldType::Text, false),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "src",
        FieldType::Text,
        Calculation::Eval("if(isnull(src) OR src=\"\",\"unknown\",src)"),
    ),
    calculated("src_port", FieldType::Number, Calculation::Eval("if(isnum(src_port),src_port,0)")),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const ENDPOINT_PROCESSES: &[Field] = &[
    field("action", FieldType::Text, false),
    field("cpu_load_percent", FieldType::Number, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_is_expected", FieldType::Boolean, false),
    field("dest_priority", FieldType::Text, false),
    field("dest_requires_av", FieldType::Boolean, false),
    field("dest_should_timesync", FieldType::Boolean, false),
    field("dest_should_update", FieldType::Boolean, false),
    field("mem_used", FieldType::Number, false),
    field("os", FieldType::Text, false),
    field("parent_process_exec", FieldType::Text, false),
    field("parent_process_hash", FieldType::Text, true),
    field("parent_process_id", FieldType::Number, false),
    field("parent_process_guid", FieldType::Text, false),
    field("parent_process_path", FieldType::Text, false),
    field("process_current_directory", FieldType::Text, false),
    field("process_exec", FieldType::Text, false),
    field("process_hash", FieldType::Text, true),
    field("process_guid", FieldType::Text, false),
    field("process_id", FieldType::Number, false),
    field("process_integrity_level", FieldType::Text, false),
    field("process_path", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("user_id", FieldType::Text, false),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "loaded_file",
        FieldType::Text,
        Calculation::Eval("if(isnull(loaded_file) OR loaded_file=\"\",\"unknown\",loaded_file)"),
    ),
    calculated(
        "original_file_name",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(original_file_name) OR original_file_name=\"\",\"unknown\",original_file_name)",
        ),
    ),
    calculated(
        "parent_process",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(parent_process) OR parent_process=\"\",\"unknown\",parent_process)",
        ),
    ),
    calculated(
        "parent_process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(parent_process_name) AND parent_process_name!=\"\", parent_process_name, isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "parent_user",
        FieldType::Text,
        Calculation::Eval("if(isnull(parent_user) OR parent_user=\"\",\"unknown\",parent_user)"),
    ),
    calculated(
        "process",
        FieldType::Text,
        Calculation::Eval("if(isnull(process) OR process=\"\",\"unknown\",process)"),
    ),
    calculated(
        "process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(process_name) AND process_name!=\"\", process_name, isnotnull(process) AND process!=\"\" AND match(process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(process) AND process!=\"\" AND match(process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const ENDPOINT_SERVICES: &[Field] = &[
    field("description", FieldType::Text, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_is_expected", FieldType::Boolean, false),
    field("dest_priority", FieldType::Text, false),
    field("dest_requires_av", FieldType::Boolean, false),
    field("dest_should_timesync", FieldType::Boolean, false),
    field("dest_should_update", FieldType::Boolean, false),
    field("process_guid", FieldType::Text, false),
    field("process_id", FieldType::Text, false),
    field("service_dll", FieldType::Text, false),
    field("service_dll_path", FieldType::Text, false),
    field("service_dll_hash", FieldType::Text, true),
    field("service_dll_signature_exists", FieldType::Boolean, false),
    field("service_dll_signature_verified", FieldType::Boolean, false),
    field("service_exec", FieldType::Text, false),
    field("service_hash", FieldType::Text, true),
    field("service_path", FieldType::Text, false),
    field("service_signature_exists", FieldType::Boolean, false),
    field("service_signature_verified", FieldType::Boolean, false),
    field("tag", FieldType::Text, true),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "service",
        FieldType::Text,
        Calculation::Eval("if(isnull(service) OR service=\"\",\"unknown\",service)"),
    ),
    calculated(
        "service_name",
        FieldType::Text,
        Calculation::Eval("if(isnull(service_name) OR service_name=\"\",\"unknown\",service_name)"),
    ),
    calculated(
        "service_id",
        FieldType::Text,
        Calculation::Eval("if(isnull(service_id) OR service_id=\"\",\"unknown\",service_id)"),
    ),
    calculated(
        "start_mode",
        FieldType::Text,
        Calculation::Eval("if(isnull(start_mode) OR start_mode=\"\",\"unknown\",start_mode)"),
    ),
    calculated(
        "status",
        FieldType::Text,
        Calculation::Eval("if(isnull(status) OR status=\"\",\"unknown\",status)"),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const ENDPOINT_FILESYSTEM: &[Field] = &[
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_priority", FieldType::Text, false),
    field("dest_requires_av", FieldType::Boolean, false),
    field("dest_should_timesync", FieldType::Boolean, false),
    field("dest_should_update", FieldType::Boolean, false),
    field("file_access_time", FieldType::Timestamp, false),
    field("file_create_time", FieldType::Timestamp, false),
    field("file_modify_time", FieldType::Timestamp, false),
    field("image", FieldType::Text, false),
    field("parent_process_exec", FieldType::Text, false),
    field("parent_process_hash", FieldType::Text, true),
    field("parent_process_id", FieldType::Number, false),
    field("parent_process_guid", FieldType::Text, false),
    field("parent_process_path", FieldType::Text, false),
    field("process_exec", FieldType::Text, false),
    field("process_guid", FieldType::Text, false),
    field("process_hash", FieldType::Text, true),
    field("process_id", FieldType::Text, false),
    field("process_path", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "action",
        FieldType::Text,
        Calculation::Eval("if(isnull(action) OR action=\"\",\"unknown\",action)"),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "file_hash",
        FieldType::Text,
        Calculation::Eval("if(isnull(file_hash) OR file_hash=\"\",\"unknown\",file_hash)"),
    ),
    calculated(
        "file_name",
        FieldType::Text,
        Calculation::Eval("if(isnull(file_name) OR file_name=\"\",\"unknown\",file_name)"),
    ),
    calculated(
        "file_path",
        FieldType::Text,
        Calculation::Eval("if(isnull(file_path) OR file_path=\"\",\"unknown\",file_path)"),
    ),
    calculated(
        "file_acl",
        FieldType::Text,
        Calculation::Eval("if(isnull(file_acl) OR file_acl=\"\",\"unknown\",file_acl)"),
    ),
    calculated(
        "file_size",
        FieldType::Number,
        Calculation::Eval("if(isnum(file_size),file_size,null())"),
    ),
    calculated(
        "parent_process",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(parent_process) OR parent_process=\"\",\"unknown\",parent_process)",
        ),
    ),
    calculated(
        "parent_process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(parent_process_name) AND parent_process_name!=\"\", parent_process_name, isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "process",
        FieldType::Text,
        Calculation::Eval("if(isnull(process) OR process=\"\",\"unknown\",process)"),
    ),
    calculated(
        "process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(process_name) AND process_name!=\"\", process_name, isnotnull(process) AND process!=\"\" AND match(process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(process) AND process!=\"\" AND match(process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const ENDPOINT_REGISTRY: &[Field] = &[
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_priority", FieldType::Text, false),
    field("dest_requires_av", FieldType::Boolean, false),
    field("dest_should_timesync", FieldType::Boolean, false),
    field("dest_should_update", FieldType::Boolean, false),
    field("image", FieldType::Text, false),
    field("parent_process_exec", FieldType::Text, false),
    field("parent_process_hash", FieldType::Text, true),
    field("parent_process_id", FieldType::Number, false),
    field("parent_process_guid", FieldType::Text, false),
    field("parent_process_path", FieldType::Text, false),
    field("process_exec", FieldType::Text, false),
    field("process_guid", FieldType::Text, false),
    field("process_hash", FieldType::Text, true),
    field("process_id", FieldType::Text, false),
    field("process_path", FieldType::Text, false),
    field("registry_hive", FieldType::Text, false),
    field("registry_value_text", FieldType::Text, false),
    field("status", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "action",
        FieldType::Text,
        Calculation::Eval("if(isnull(action) OR action=\"\",\"unknown\",action)"),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "parent_process",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(parent_process) OR parent_process=\"\",\"unknown\",parent_process)",
        ),
    ),
    calculated(
        "parent_process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(parent_process_name) AND parent_process_name!=\"\", parent_process_name, isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( parent_process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(parent_process) AND parent_process!=\"\" AND match(parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( parent_process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "process",
        FieldType::Text,
        Calculation::Eval("if(isnull(process) OR process=\"\",\"unknown\",process)"),
    ),
    calculated(
        "process_name",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(process_name) AND process_name!=\"\", process_name, isnotnull(process) AND process!=\"\" AND match(process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\"), replace( process, \"^\\s*(?:\\\"..*\\\\\\([^\\\"]+)\\\").*\", \"\\1\" ), isnotnull(process) AND process!=\"\" AND match(process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\"), replace( process, \"^(?:..*\\\\\\)?([^\\s\\\"]+)(?=\\s|$).*\", \"\\1\" ), 1=1, \"unknown\")",
        ),
    ),
    calculated(
        "registry_path",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(registry_path) OR registry_path=\"\",\"unknown\",registry_path)",
        ),
    ),
    calculated(
        "registry_key_name",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(registry_key_name) OR registry_key_name=\"\",\"unknown\",registry_key_name)",
        ),
    ),
    calculated(
        "registry_value_data",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(registry_value_data) OR registry_value_data=\"\",\"unknown\",registry_value_data)",
        ),
    ),
    calculated(
        "registry_value_name",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(registry_value_name) OR registry_value_name=\"\",\"unknown\",registry_value_name)",
        ),
    ),
    calculated(
        "registry_value_type",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(registry_value_type) OR registry_value_type=\"\",\"unknown\",registry_value_type)",
        ),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const NETWORK_TRAFFIC_ALL_TRAFFIC: &[Field] = &[
    field("app", FieldType::Text, false),
    field("channel", FieldType::Number, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_interface", FieldType::Text, false),
    field("dest_ip", FieldType::Text, false),
    field("dest_mac", FieldType::Text, false),
    field("dest_priority", FieldType::Text, false),
    field("dest_translated_ip", FieldType::Text, false),
    field("dest_translated_port", FieldType::Number, false),
    field("dest_zone", FieldType::Text, false),
    field("direction", FieldType::Text, false),
    field("duration", FieldType::Number, false),
    field("dvc_ip", FieldType::Text, false),
    field("dvc_bunit", FieldType::Text, false),
    field("dvc_category", FieldType::Text, true),
    field("dvc_mac", FieldType::Text, false),
    field("dvc_priority", FieldType::Text, false),
    field("dvc_zone", FieldType::Text, false),
    field("flow_id", FieldType::Text, false),
    field("icmp_code", FieldType::Text, false),
    field("icmp_type", FieldType::Number, false),
    field("process_guid", FieldType::Text, false),
    field("process_id", FieldType::Text, false),
    field("protocol", FieldType::Text, false),
    field("protocol_version", FieldType::Text, false),
    field("response_time", FieldType::Number, false),
    field("rule_id", FieldType::Text, false),
    field("session_id", FieldType::Text, false),
    field("src_bunit", FieldType::Text, false),
    field("src_category", FieldType::Text, true),
    field("src_interface", FieldType::Text, false),
    field("src_ip", FieldType::Text, false),
    field("src_mac", FieldType::Text, false),
    field("src_priority", FieldType::Text, false),
    field("src_translated_ip", FieldType::Text, false),
    field("src_translated_port", FieldType::Number, false),
    field("src_zone", FieldType::Text, false),
    field("ssid", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("tcp_flag", FieldType::Text, true),
    field("tos", FieldType::Text, false),
    field("ttl", FieldType::Number, false),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("vlan", FieldType::Text, true),
    field("wifi", FieldType::Text, true),
    field("vendor_account", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "action",
        FieldType::Text,
        Calculation::Eval("if(isnull(action) OR action=\"\",\"unknown\",action)"),
    ),
    calculated(
        "bytes",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(bytes),bytes,isnum(bytes_in) AND isnum(bytes_out),bytes_in+bytes_out,1=1,null())",
        ),
    ),
    calculated(
        "bytes_in",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(bytes_in),bytes_in,isnum(bytes) AND isnum(bytes_out),bytes-bytes_out,1=1,null())",
        ),
    ),
    calculated(
        "bytes_out",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(bytes_out),bytes_out,isnum(bytes) AND isnum(bytes_in),bytes-bytes_in,1=1,null())",
        ),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "dest_port",
        FieldType::Number,
        Calculation::Eval("if(isnum(dest_port),dest_port,0)"),
    ),
    calculated(
        "dvc",
        FieldType::Text,
        Calculation::Eval("if(isnull(dvc) OR dvc=\"\",\"unknown\",dvc)"),
    ),
    calculated(
        "packets",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(packets),packets,isnum(packets_in) AND isnum(packets_out),packets_in+packets_out,1=1,null())",
        ),
    ),
    calculated(
        "packets_in",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(packets_in),packets_in,isnum(packets) AND isnum(packets_out),packets-packets_out,1=1,null())",
        ),
    ),
    calculated(
        "packets_out",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(packets_out),packets_out,isnum(packets) AND isnum(packets_in),packets-packets_in,1=1,null())",
        ),
    ),
    calculated(
        "rule",
        FieldType::Text,
        Calculation::Eval("if(isnull(rule) OR rule=\"\",\"unknown\",rule)"),
    ),
    calculated(
        "src",
        FieldType::Text,
        Calculation::Eval("if(isnull(src) OR src=\"\",\"unknown\",src)"),
    ),
    calculated("src_port", FieldType::Number, Calculation::Eval("if(isnum(src_port),src_port,0)")),
    calculated(
        "transport",
        FieldType::Text,
        Calculation::Eval("if(isnull(transport) OR transport=\"\",\"unknown\",lower(transport))"),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const NETWORK_TRAFFIC_TRAFFIC_BY_ACTION: &[Field] = &[];

const NETWORK_TRAFFIC_ALLOWED_TRAFFIC: &[Field] = &[];

const NETWORK_TRAFFIC_BLOCKED_TRAFFIC: &[Field] = &[];

const NETWORK_RESOLUTION_DNS: &[Field] = &[
    field("additional_answer_count", FieldType::Number, false),
    field("authority_answer_count", FieldType::Number, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_ip", FieldType::Text, false),
    field("dest_port", FieldType::Number, false),
    field("dest_priority", FieldType::Text, false),
    field("duration", FieldType::Number, false),
    field("name", FieldType::Text, false),
    field("query_type", FieldType::Text, false),
    field("record_type", FieldType::Text, false),
    field("response_time", FieldType::Number, false),
    field("src", FieldType::Text, false),
    field("src_bunit", FieldType::Text, false),
    field("src_category", FieldType::Text, true),
    field("src_ip", FieldType::Text, false),
    field("src_port", FieldType::Number, true),
    field("src_priority", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("transport", FieldType::Text, false),
    field("transaction_id", FieldType::Number, false),
    field("ttl", FieldType::Number, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "answer",
        FieldType::Text,
        Calculation::Eval("if(isnull(answer) OR answer=\"\",\"unknown\",answer)"),
    ),
    calculated(
        "answer_count",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(answer_count),answer_count,isnotnull(answer),mvcount(answer),1=1,1)",
        ),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "message_type",
        FieldType::Text,
        Calculation::Eval("if(isnull(message_type) OR message_type=\"\",\"unknown\",message_type)"),
    ),
    calculated(
        "query",
        FieldType::Text,
        Calculation::Eval("if(isnull(query) OR query=\"\",\"unknown\",query)"),
    ),
    calculated(
        "query_count",
        FieldType::Number,
        Calculation::Eval(
            "case(isnum(query_count),query_count,isnotnull(query),mvcount(query),1=1,1)",
        ),
    ),
    calculated(
        "reply_code_id",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(reply_code_id) AND reply_code_id!=\"\",reply_code_id,isnotnull(reply_code) AND reply_code!=\"\",reply_code,1=1,\"unknown\")",
        ),
    ),
    calculated("reply_code", FieldType::Text, Calculation::Lookup("cim_dns_reply_code_lookup")),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
];

const AUTHENTICATION_AUTHENTICATION: &[Field] = &[
    field("authentication_method", FieldType::Text, true),
    field("authentication_service", FieldType::Text, false),
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_nt_domain", FieldType::Text, false),
    field("dest_priority", FieldType::Text, false),
    field("duration", FieldType::Number, false),
    field("process", FieldType::Text, false),
    field("reason", FieldType::Text, false),
    field("reason_id", FieldType::Text, false),
    field("response_time", FieldType::Number, false),
    field("session_id", FieldType::Text, false),
    field("signature", FieldType::Text, false),
    field("signature_id", FieldType::Text, false),
    field("src_bunit", FieldType::Text, false),
    field("src_category", FieldType::Text, true),
    field("src_nt_domain", FieldType::Text, false),
    field("src_priority", FieldType::Text, false),
    field("src_user_bunit", FieldType::Text, false),
    field("src_user_category", FieldType::Text, true),
    field("src_user_id", FieldType::Text, false),
    field("src_user_priority", FieldType::Text, false),
    field("src_user_role", FieldType::Text, false),
    field("src_user_type", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("user_agent", FieldType::Text, false),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_id", FieldType::Text, false),
    field("user_priority", FieldType::Text, false),
    field("user_role", FieldType::Text, false),
    field("user_type", FieldType::Text, false),
    field("vendor_account", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "action",
        FieldType::Text,
        Calculation::Eval("if(isnull(action) OR action=\"\",\"unknown\",action)"),
    ),
    calculated(
        "app",
        FieldType::Text,
        Calculation::Eval("if(isnull(app) OR app=\"\",sourcetype,app)"),
    ),
    calculated(
        "src",
        FieldType::Text,
        Calculation::Eval("if(isnull(src) OR src=\"\",\"unknown\",src)"),
    ),
    calculated(
        "src_user",
        FieldType::Text,
        Calculation::Eval("if(isnull(src_user) OR src_user=\"\",\"unknown\",src_user)"),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "result",
        FieldType::Text,
        Calculation::Eval("if(isnull(result) OR result=\"\",\"unknown\",result)"),
    ),
];

const AUTHENTICATION_FAILED_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_SUCCESSFUL_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_DEFAULT_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_FAILED_DEFAULT_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_SUCCESSFUL_DEFAULT_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_INSECURE_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_PRIVILEGED_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_FAILED_PRIVILEGED_AUTHENTICATION: &[Field] = &[];

const AUTHENTICATION_SUCCESSFUL_PRIVILEGED_AUTHENTICATION: &[Field] = &[];

const CHANGE_ALL_CHANGES: &[Field] = &[
    field("dest_bunit", FieldType::Text, false),
    field("dest_category", FieldType::Text, true),
    field("dest_priority", FieldType::Text, false),
    field("src_bunit", FieldType::Text, false),
    field("src_category", FieldType::Text, true),
    field("src_priority", FieldType::Text, false),
    field("tag", FieldType::Text, true),
    field("user_agent", FieldType::Text, false),
    field("user_bunit", FieldType::Text, false),
    field("user_category", FieldType::Text, true),
    field("user_priority", FieldType::Text, false),
    field("user_type", FieldType::Text, false),
    field("vendor_account", FieldType::Text, false),
    field("vendor_region", FieldType::Text, false),
    field("cim_entity_zone", FieldType::Text, false),
    calculated(
        "change_type",
        FieldType::Text,
        Calculation::Eval("if(isnull(change_type) OR change_type=\"\",\"unknown\",change_type)"),
    ),
    calculated(
        "command",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(command) OR command=\"\",\"unknown\",if(sourcetype==\"audittrail\",Operation.\" \".ObjectName,command))",
        ),
    ),
    calculated(
        "dest",
        FieldType::Text,
        Calculation::Eval("if(isnull(dest) OR dest=\"\",\"unknown\",dest)"),
    ),
    calculated(
        "dvc",
        FieldType::Text,
        Calculation::Eval("if(isnull(dvc) OR dvc=\"\",\"unknown\",dvc)"),
    ),
    calculated(
        "object",
        FieldType::Text,
        Calculation::Eval("if(isnull(object) OR object=\"\",\"unknown\",object)"),
    ),
    calculated(
        "object_attrs",
        FieldType::Text,
        Calculation::Eval("if(isnull(object_attrs) OR object_attrs=\"\",\"unknown\",object_attrs)"),
    ),
    calculated(
        "object_category",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(object_category) OR object_category=\"\",\"unknown\",object_category)",
        ),
    ),
    calculated(
        "object_id",
        FieldType::Text,
        Calculation::Eval("if(isnull(object_id) OR object_id=\"\",\"unknown\",object_id)"),
    ),
    calculated(
        "object_path",
        FieldType::Text,
        Calculation::Eval("if(isnull(object_path) OR object_path=\"\",\"unknown\",object_path)"),
    ),
    calculated(
        "status",
        FieldType::Text,
        Calculation::Eval("if(isnull(status) OR status=\"\",\"unknown\",status)"),
    ),
    calculated(
        "result",
        FieldType::Text,
        Calculation::Eval(
            "if(isnotnull(result) AND result!=\"\",result,if(isnotnull(signature) AND signature!=\"\",signature,\"unknown\"))",
        ),
    ),
    calculated(
        "result_id",
        FieldType::Text,
        Calculation::Eval(
            "if(isnotnull(result_id) AND result_id!=\"\",result_id,if(isnotnull(signature_id) AND signature_id!=\"\",signature_id,-1))",
        ),
    ),
    calculated(
        "src",
        FieldType::Text,
        Calculation::Eval("if(isnull(src) OR src=\"\",\"unknown\",src)"),
    ),
    calculated(
        "user",
        FieldType::Text,
        Calculation::Eval("if(isnull(user) OR user=\"\",\"unknown\",user)"),
    ),
    calculated(
        "user_name",
        FieldType::Text,
        Calculation::Eval("if(isnull(user_name) OR user_name=\"\",\"unknown\",user_name)"),
    ),
    calculated(
        "vendor_product",
        FieldType::Text,
        Calculation::Eval(
            "case(isnotnull(vendor_product),vendor_product,isnotnull(vendor) AND vendor!=\"unknown\" AND isnotnull(product) AND product!=\"unknown\",vendor.\" \".product,isnotnull(vendor) AND vendor!=\"unknown\" AND (isnull(product) OR product=\"unknown\"),vendor.\" unknown\",(isnull(vendor) OR vendor=\"unknown\") AND isnotnull(product) AND product!=\"unknown\",\"unknown \".product,isnotnull(sourcetype),sourcetype,1=1,\"unknown\")",
        ),
    ),
    calculated(
        "action",
        FieldType::Text,
        Calculation::Eval("if(isnull(action) OR action=\"\",\"unknown\",action)"),
    ),
];

const CHANGE_AUDITING_CHANGES: &[Field] = &[];

const CHANGE_ENDPOINT_CHANGES: &[Field] = &[];

const CHANGE_ENDPOINT_RESTARTS: &[Field] = &[];

const CHANGE_OTHER_ENDPOINT_CHANGES: &[Field] = &[];

const CHANGE_NETWORK_CHANGES: &[Field] = &[
    field("dest_ip_range", FieldType::Text, true),
    field("dest_port_range", FieldType::Text, true),
    field("direction", FieldType::Text, true),
    field("protocol", FieldType::Text, true),
    field("rule_action", FieldType::Text, true),
    field("src_ip_range", FieldType::Text, true),
    field("src_port_range", FieldType::Text, true),
];

const CHANGE_DEVICE_RESTARTS: &[Field] = &[];

const CHANGE_ACCOUNT_MANAGEMENT: &[Field] = &[
    field("src_user_bunit", FieldType::Text, false),
    field("src_user_category", FieldType::Text, true),
    field("src_user_priority", FieldType::Text, false),
    field("src_user_type", FieldType::Text, false),
    calculated(
        "dest_nt_domain",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(dest_nt_domain) OR dest_nt_domain=\"\",\"unknown\",dest_nt_domain)",
        ),
    ),
    calculated(
        "src_nt_domain",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(src_nt_domain) OR src_nt_domain=\"\",\"unknown\",src_nt_domain)",
        ),
    ),
    calculated(
        "src_user",
        FieldType::Text,
        Calculation::Eval("if(isnull(src_user) OR src_user=\"\",\"unknown\",src_user)"),
    ),
    calculated(
        "src_user_name",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(src_user_name) OR src_user_name=\"\",\"unknown\",src_user_name)",
        ),
    ),
];

const CHANGE_ACCOUNTS_CREATED: &[Field] = &[];

const CHANGE_ACCOUNTS_DELETED: &[Field] = &[];

const CHANGE_ACCOUNT_LOCKOUTS: &[Field] = &[];

const CHANGE_ACCOUNTS_UPDATED: &[Field] = &[];

const CHANGE_INSTANCE_CHANGES: &[Field] = &[
    calculated(
        "image_id",
        FieldType::Text,
        Calculation::Eval("if(isnull(image_id) OR image_id=\"\",\"unknown\",image_id)"),
    ),
    calculated(
        "instance_type",
        FieldType::Text,
        Calculation::Eval(
            "if(isnull(instance_type) OR instance_type=\"\",\"unknown\",instance_type)",
        ),
    ),
];

/// Every node of the models, parents before children, in the definition files' order.
const NODES: &[Node] = &[
    Node {
        model: "Endpoint",
        name: "Ports",
        parent: None,
        search: Search::Base(
            "(`cim_Endpoint_indexes`) tag=listening tag=port | eval transport=if(isnull(transport) OR transport=\"\",\"unknown\",transport),dest_port=if(isnull(dest_port) OR dest_port=\"\",0,dest_port),transport_dest_port=mvzip(transport,dest_port,\"/\") | mvexpand transport_dest_port",
        ),
        own_fields: ENDPOINT_PORTS,
    },
    Node {
        model: "Endpoint",
        name: "Processes",
        parent: None,
        search: Search::Base(
            "(`cim_Endpoint_indexes`) tag=process tag=report | eval process_integrity_level=lower(process_integrity_level)",
        ),
        own_fields: ENDPOINT_PROCESSES,
    },
    Node {
        model: "Endpoint",
        name: "Services",
        parent: None,
        search: Search::Base("(`cim_Endpoint_indexes`) tag=service tag=report"),
        own_fields: ENDPOINT_SERVICES,
    },
    Node {
        model: "Endpoint",
        name: "Filesystem",
        parent: None,
        search: Search::Base("(`cim_Endpoint_indexes`) tag=endpoint tag=filesystem"),
        own_fields: ENDPOINT_FILESYSTEM,
    },
    Node {
        model: "Endpoint",
        name: "Registry",
        parent: None,
        search: Search::Base("(`cim_Endpoint_indexes`) tag=endpoint tag=registry"),
        own_fields: ENDPOINT_REGISTRY,
    },
    Node {
        model: "Network_Traffic",
        name: "All_Traffic",
        parent: None,
        search: Search::Constraints(&[
            "(`cim_Network_Traffic_indexes`) tag=network tag=communicate",
        ]),
        own_fields: NETWORK_TRAFFIC_ALL_TRAFFIC,
    },
    Node {
        model: "Network_Traffic",
        name: "Traffic_By_Action",
        parent: Some("All_Traffic"),
        search: Search::Constraints(&["action=*"]),
        own_fields: NETWORK_TRAFFIC_TRAFFIC_BY_ACTION,
    },
    Node {
        model: "Network_Traffic",
        name: "Allowed_Traffic",
        parent: Some("Traffic_By_Action"),
        search: Search::Constraints(&["action=allowed"]),
        own_fields: NETWORK_TRAFFIC_ALLOWED_TRAFFIC,
    },
    Node {
        model: "Network_Traffic",
        name: "Blocked_Traffic",
        parent: Some("Traffic_By_Action"),
        search: Search::Constraints(&["action=blocked"]),
        own_fields: NETWORK_TRAFFIC_BLOCKED_TRAFFIC,
    },
    Node {
        model: "Network_Resolution",
        name: "DNS",
        parent: None,
        search: Search::Constraints(&[
            "(`cim_Network_Resolution_indexes`) tag=network tag=resolution tag=dns",
        ]),
        own_fields: NETWORK_RESOLUTION_DNS,
    },
    Node {
        model: "Authentication",
        name: "Authentication",
        parent: None,
        search: Search::Constraints(&[
            "(`cim_Authentication_indexes`) tag=authentication NOT (action=success user=*$)",
        ]),
        own_fields: AUTHENTICATION_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Failed_Authentication",
        parent: Some("Authentication"),
        search: Search::Constraints(&["action=\"failure\" OR result=\"failure\""]),
        own_fields: AUTHENTICATION_FAILED_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Successful_Authentication",
        parent: Some("Authentication"),
        search: Search::Constraints(&["action=\"success\" OR result=\"success\""]),
        own_fields: AUTHENTICATION_SUCCESSFUL_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Default_Authentication",
        parent: Some("Authentication"),
        search: Search::Constraints(&["tag=\"default\""]),
        own_fields: AUTHENTICATION_DEFAULT_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Failed_Default_Authentication",
        parent: Some("Default_Authentication"),
        search: Search::Constraints(&["action=\"failure\""]),
        own_fields: AUTHENTICATION_FAILED_DEFAULT_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Successful_Default_Authentication",
        parent: Some("Default_Authentication"),
        search: Search::Constraints(&["action=\"success\""]),
        own_fields: AUTHENTICATION_SUCCESSFUL_DEFAULT_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Insecure_Authentication",
        parent: Some("Authentication"),
        search: Search::Constraints(&["tag=\"insecure\" OR tag=\"cleartext\""]),
        own_fields: AUTHENTICATION_INSECURE_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Privileged_Authentication",
        parent: Some("Authentication"),
        search: Search::Constraints(&["tag=\"privileged\""]),
        own_fields: AUTHENTICATION_PRIVILEGED_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Failed_Privileged_Authentication",
        parent: Some("Privileged_Authentication"),
        search: Search::Constraints(&["action=\"failure\""]),
        own_fields: AUTHENTICATION_FAILED_PRIVILEGED_AUTHENTICATION,
    },
    Node {
        model: "Authentication",
        name: "Successful_Privileged_Authentication",
        parent: Some("Privileged_Authentication"),
        search: Search::Constraints(&["action=\"success\""]),
        own_fields: AUTHENTICATION_SUCCESSFUL_PRIVILEGED_AUTHENTICATION,
    },
    Node {
        model: "Change",
        name: "All_Changes",
        parent: None,
        search: Search::Constraints(&["(`cim_Change_indexes`) tag=change"]),
        own_fields: CHANGE_ALL_CHANGES,
    },
    Node {
        model: "Change",
        name: "Auditing_Changes",
        parent: Some("All_Changes"),
        search: Search::Constraints(&["tag=audit"]),
        own_fields: CHANGE_AUDITING_CHANGES,
    },
    Node {
        model: "Change",
        name: "Endpoint_Changes",
        parent: Some("All_Changes"),
        search: Search::Constraints(&["tag=endpoint"]),
        own_fields: CHANGE_ENDPOINT_CHANGES,
    },
    Node {
        model: "Change",
        name: "Endpoint_Restarts",
        parent: Some("Endpoint_Changes"),
        search: Search::Constraints(&["action=modified change_type=restart"]),
        own_fields: CHANGE_ENDPOINT_RESTARTS,
    },
    Node {
        model: "Change",
        name: "Other_Endpoint_Changes",
        parent: Some("Endpoint_Changes"),
        search: Search::Constraints(&["NOT change_type=restart"]),
        own_fields: CHANGE_OTHER_ENDPOINT_CHANGES,
    },
    Node {
        model: "Change",
        name: "Network_Changes",
        parent: Some("All_Changes"),
        search: Search::Constraints(&["tag=network"]),
        own_fields: CHANGE_NETWORK_CHANGES,
    },
    Node {
        model: "Change",
        name: "Device_Restarts",
        parent: Some("Network_Changes"),
        search: Search::Constraints(&["action=modified change_type=restart"]),
        own_fields: CHANGE_DEVICE_RESTARTS,
    },
    Node {
        model: "Change",
        name: "Account_Management",
        parent: Some("All_Changes"),
        search: Search::Constraints(&["tag=account"]),
        own_fields: CHANGE_ACCOUNT_MANAGEMENT,
    },
    Node {
        model: "Change",
        name: "Accounts_Created",
        parent: Some("Account_Management"),
        search: Search::Constraints(&["action=\"created\""]),
        own_fields: CHANGE_ACCOUNTS_CREATED,
    },
    Node {
        model: "Change",
        name: "Accounts_Deleted",
        parent: Some("Account_Management"),
        search: Search::Constraints(&["action=\"deleted\""]),
        own_fields: CHANGE_ACCOUNTS_DELETED,
    },
    Node {
        model: "Change",
        name: "Account_Lockouts",
        parent: Some("Account_Management"),
        search: Search::Constraints(&["result=\"lockout\""]),
        own_fields: CHANGE_ACCOUNT_LOCKOUTS,
    },
    Node {
        model: "Change",
        name: "Accounts_Updated",
        parent: Some("Account_Management"),
        search: Search::Constraints(&["action=\"updated\" OR action=\"modified\""]),
        own_fields: CHANGE_ACCOUNTS_UPDATED,
    },
    Node {
        model: "Change",
        name: "Instance_Changes",
        parent: Some("All_Changes"),
        search: Search::Constraints(&["tag=instance"]),
        own_fields: CHANGE_INSTANCE_CHANGES,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_is_a_node_of_the_same_model() {
        for node in NODES {
            if let Some(parent) = node.parent {
                assert!(super::node(node.model, parent).is_some(), "{}: {parent}", node.name);
            }
        }
    }

    #[test]
    fn node_names_are_unique() {
        for node in NODES {
            assert_eq!(node_named(node.name), Some(node), "{}", node.name);
        }
    }

    #[test]
    fn field_names_are_unique_per_node() {
        for node in NODES {
            let mut names: Vec<&str> = node.fields().map(|f| f.name).collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "{}", node.name);
        }
    }
}
