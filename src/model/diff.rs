//! Field-by-field differences between two specs, for people and dashboards.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{RealServerDoc, Spec, VirtualService, VirtualServiceDoc};

/// One field that differs; `from`/`to` are absent when the field is unset on that side.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub to: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServerChange {
    pub id: String,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceChange {
    pub id: String,
    /// Service settings that differ (scheduler, persistence, ...).
    pub changes: Vec<FieldChange>,
    pub servers_added: Vec<RealServerDoc>,
    pub servers_removed: Vec<RealServerDoc>,
    pub servers_changed: Vec<ServerChange>,
}

/// What changed from one spec (`from`) to another (`to`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Default)]
pub struct SpecDiff {
    pub services_added: Vec<VirtualServiceDoc>,
    pub services_removed: Vec<VirtualServiceDoc>,
    pub services_changed: Vec<ServiceChange>,
    pub timeouts: Vec<FieldChange>,
    pub sync_daemons: Vec<FieldChange>,
    /// Host settings that differ, by dotted path (`directors.d2.snat_address`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host: Vec<FieldChange>,
    /// High-availability settings that differ, by dotted path, VRRP
    /// instances by name (`vrrp.VI_1.priority.d1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ha: Vec<FieldChange>,
}

impl SpecDiff {
    pub fn is_empty(&self) -> bool {
        self.services_added.is_empty()
            && self.services_removed.is_empty()
            && self.services_changed.is_empty()
            && self.timeouts.is_empty()
            && self.sync_daemons.is_empty()
            && self.host.is_empty()
            && self.ha.is_empty()
    }

    pub fn between(from: &Spec, to: &Spec) -> Self {
        let keys: BTreeSet<_> = from
            .services()
            .iter()
            .chain(to.services())
            .map(|s| s.key)
            .collect();
        let mut diff = SpecDiff::default();
        for key in keys {
            match (from.service(&key), to.service(&key)) {
                (None, Some(added)) => diff.services_added.push(added.to_doc()),
                (Some(removed), None) => diff.services_removed.push(removed.to_doc()),
                (Some(a), Some(b)) if a != b => diff.services_changed.push(service_change(a, b)),
                _ => {}
            }
        }
        diff.timeouts = field_changes(&to_value(&from.timeouts), &to_value(&to.timeouts), "");
        let daemons = |spec: &Spec| {
            let mut map = Map::new();
            for d in spec.sync_daemons() {
                map.insert(d.role.as_str().to_string(), to_value(d));
            }
            Value::Object(map)
        };
        diff.sync_daemons = field_changes(&daemons(from), &daemons(to), "");
        diff.host = field_changes(
            &to_value(&from.host().to_doc()),
            &to_value(&to.host().to_doc()),
            "",
        );
        diff.ha = field_changes(&ha_value(from), &ha_value(to), "");
        diff
    }
}

/// The `ha` section with its instances keyed by name, so that a change
/// names the instance rather than its position.
fn ha_value(spec: &Spec) -> Value {
    let Some(ha) = spec.ha() else {
        return Value::Object(Map::new());
    };
    let mut value = to_value(&ha.to_doc());
    if let Value::Object(map) = &mut value {
        let instances = ha
            .instances()
            .iter()
            .map(|i| (i.name.clone(), to_value(i)))
            .collect();
        map.insert("vrrp".into(), Value::Object(instances));
    }
    value
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("model values always serialize")
}

fn service_change(a: &VirtualService, b: &VirtualService) -> ServiceChange {
    let settings = |s: &VirtualService| {
        let mut value = to_value(&s.without_servers());
        if let Value::Object(map) = &mut value {
            map.remove("servers");
            map.remove("id");
        }
        value
    };
    let mut change = ServiceChange {
        id: a.key.to_string(),
        changes: field_changes(&settings(a), &settings(b), ""),
        servers_added: Vec::new(),
        servers_removed: Vec::new(),
        servers_changed: Vec::new(),
    };
    let keys: BTreeSet<_> = a
        .servers()
        .iter()
        .chain(b.servers())
        .map(|s| s.key)
        .collect();
    for key in keys {
        match (a.server(&key), b.server(&key)) {
            (None, Some(added)) => change.servers_added.push(added.into()),
            (Some(removed), None) => change.servers_removed.push(removed.into()),
            (Some(x), Some(y)) if x != y => change.servers_changed.push(ServerChange {
                id: key.to_string(),
                changes: field_changes(&to_value(x), &to_value(y), ""),
            }),
            _ => {}
        }
    }
    change
}

/// Leaf-level differences between two JSON values, with dotted paths.
fn field_changes(a: &Value, b: &Value, prefix: &str) -> Vec<FieldChange> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => field_changes(p, q, &path),
                        (p, q) => vec![FieldChange {
                            field: path,
                            from: p.cloned(),
                            to: q.cloned(),
                        }],
                    }
                })
                .collect()
        }
        (p, q) if p == q => Vec::new(),
        (p, q) => vec![FieldChange {
            field: prefix.to_string(),
            from: Some(p.clone()),
            to: Some(q.clone()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        Spec::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn reports_each_kind_of_change() {
        let a = spec(
            r#"{"services":[
                {"id":"tcp:10.0.0.1:80","scheduler":"wrr","servers":[{"address":"10.1.0.1","forwarding":"nat","weight":1},{"address":"10.1.0.2","forwarding":"nat"}]},
                {"id":"udp:10.0.0.1:53"}],
                "timeouts":{"tcp":900}}"#,
        );
        let b = spec(
            r#"{"services":[
                {"id":"tcp:10.0.0.1:80","scheduler":"rr","persistence":{"timeout":60},"servers":[{"address":"10.1.0.1","forwarding":"nat","weight":5},{"address":"10.1.0.3","forwarding":"nat"}]},
                {"fwmark":3}],
                "timeouts":{"tcp":600,"udp":30},
                "sync_daemons":[{"role":"master","interface":"eth0"}]}"#,
        );
        let diff = SpecDiff::between(&a, &b);
        assert_eq!(diff.services_added.len(), 1);
        assert_eq!(diff.services_added[0].id.as_deref(), Some("fwmark:3"));
        assert_eq!(
            diff.services_removed[0].id.as_deref(),
            Some("udp:10.0.0.1:53")
        );
        let changed = &diff.services_changed[0];
        let fields: Vec<_> = changed.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["persistence", "scheduler"]);
        assert_eq!(changed.servers_added[0].id.as_deref(), Some("10.1.0.3:80"));
        assert_eq!(
            changed.servers_removed[0].id.as_deref(),
            Some("10.1.0.2:80")
        );
        assert_eq!(changed.servers_changed[0].changes[0].field, "weight");
        assert_eq!(
            changed.servers_changed[0].changes[0].to,
            Some(Value::from(5))
        );
        let timeouts: Vec<_> = diff.timeouts.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(timeouts, ["tcp", "udp"]);
        assert_eq!(diff.sync_daemons[0].field, "master");
        assert!(diff.host.is_empty());
        assert!(SpecDiff::between(&b, &b).is_empty());
        let c = spec(
            r#"{"host":{"snat_address":"10.0.0.9","directors":{"d2":{"vip_interface":"eth1"}}}}"#,
        );
        let host: Vec<_> = SpecDiff::between(&b, &c)
            .host
            .iter()
            .map(|c| c.field.clone())
            .collect();
        assert_eq!(host, ["directors", "snat_address"]);
        assert!(SpecDiff::between(&b, &c).ha.is_empty());
    }

    #[test]
    fn names_ha_changes_by_instance() {
        let ha = |vi2: &str, sync: &str| {
            spec(&format!(
                r#"{{"ha":{{"directors":{{"d1":"10.0.0.1"}},"vrrp":[
                    {{"name":"VI_1","virtual_router_id":1,"interface":"eth0"}},
                    {{"name":"VI_2","virtual_router_id":2,"interface":"eth0"{vi2}}}]{sync}}}}}"#
            ))
        };
        let a = ha("", "");
        let b = ha(
            r#","priority":{"d1":150},"preempt":true"#,
            r#","sync":{"interface":"eth0"}"#,
        );
        let fields: Vec<_> = SpecDiff::between(&a, &b)
            .ha
            .iter()
            .map(|c| c.field.clone())
            .collect();
        assert_eq!(fields, ["sync", "vrrp.VI_2.preempt", "vrrp.VI_2.priority"]);
        let none = spec("{}");
        let whole: Vec<_> = SpecDiff::between(&none, &a)
            .ha
            .iter()
            .map(|c| c.field.clone())
            .collect();
        assert_eq!(whole, ["directors", "vrrp"]);
        assert!(SpecDiff::between(&b, &b).is_empty());
    }
}
