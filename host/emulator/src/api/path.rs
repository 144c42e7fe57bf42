//! Parsing request paths into routes, the way kube-apiserver's mux resolves them.

/// A parsed resource path: `/api/v1/namespaces/ns/configmaps/name/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource plural.
    pub plural: String,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`).
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`: core versions.
    CoreVersions,
    /// `/apis`: the group list.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1` or `/apis/{g}/{v}`: resource list.
    Resources { group: String, version: String },
    /// A resource, collection or subresource.
    Resource(ResourcePath),
    /// `/version`.
    Version,
    /// `/openapi/v2`.
    OpenApiV2,
    /// `/openapi/v3`.
    OpenApiV3Index,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{g}/{v}`.
    OpenApiV3 { group: String, version: String },
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// Anything else.
    Unknown,
}

fn resource_tail(group: &str, version: &str, segs: &[&str]) -> Route {
    let mk = |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    match segs {
        [] => Route::Resources {
            group: group.to_string(),
            version: version.to_string(),
        },
        // /namespaces/{name}/status|finalize: subresources of the Namespace object itself.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            mk(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => mk(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => mk(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => mk(Some(ns), plural, Some(name), Some(sub)),
        [plural] => mk(None, plural, None, None),
        [plural, name] => mk(None, plural, Some(name), None),
        [plural, name, sub] => mk(None, plural, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

/// Resolves a request path (without query string).
pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["api"] => Route::CoreVersions,
        ["api", version, rest @ ..] => resource_tail("", version, rest),
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version, rest @ ..] => resource_tail(group, version, rest),
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", v] => Route::OpenApiV3 {
            group: String::new(),
            version: v.to_string(),
        },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3 {
            group: g.to_string(),
            version: v.to_string(),
        },
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        _ => Route::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(r: Route) -> ResourcePath {
        match r {
            Route::Resource(p) => p,
            other => panic!("not a resource: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let p = res(parse("/api/v1/namespaces/ns/configmaps/x"));
        assert_eq!(
            (
                p.group.as_str(),
                p.plural.as_str(),
                p.namespace.as_deref(),
                p.name.as_deref()
            ),
            ("", "configmaps", Some("ns"), Some("x"))
        );
        let p = res(parse("/api/v1/namespaces/ns"));
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref(), p.namespace),
            ("namespaces", Some("ns"), None)
        );
        let p = res(parse("/api/v1/namespaces/ns/status"));
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = res(parse("/apis/apps/v1/namespaces/a/deployments/d/scale"));
        assert_eq!(
            (p.group.as_str(), p.subresource.as_deref()),
            ("apps", Some("scale"))
        );
        let p = res(parse("/apis/apps/v1/deployments"));
        assert_eq!((p.namespace, p.name), (None, None));
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse("/apis"), Route::Groups);
    }
}
