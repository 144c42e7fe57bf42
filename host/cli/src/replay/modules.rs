//! Where replay finds the module a decision names: by digest, in `--modules DIR` or in the
//! cluster's ConfigMaps (`--kubeconfig`).
//!
//! The digest is the engine's: the SHA-256 of the Wasm binary it loaded ([`Digest::of`]). A
//! `.wat` file is assembled first and hashed as the binary it becomes, as `fleetward simulate`
//! does when a scenario names one (so a simulation's log finds its modules in the scenario's
//! directory). ConfigMaps hold binaries (`binaryData`), hashed as they are, as the controller
//! does. From the cluster replay also learns each binding's limits, so failures that depend on
//! them (out of fuel, out of memory) become comparable.
//!
//! The reference policies built into this `fleetward` (what a simulation scenario names as
//! `builtin:NAME`) are always there, so a simulation's `decisions.jsonl` replays without flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleetward_controller::crd::{ModuleSourceRef, PolicyBinding, Tenant};
use fleetward_engine::{Digest, Limits};
use fleetward_sdk::wire::DecisionKind;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use crate::exit::CliError;
use crate::policy::runtime;

/// A module's bytes and where they came from.
#[derive(Clone, Debug)]
pub struct Found {
    /// The Wasm binary.
    pub bytes: Vec<u8>,
    /// A file path, or `ConfigMap ns/name key k`.
    pub origin: String,
}

/// Every module replay can use, by digest (`sha256:…`), and the limits of the cluster's
/// bindings.
#[derive(Clone, Debug, Default)]
pub struct Modules {
    /// Modules by digest.
    pub by_digest: BTreeMap<String, Found>,
    /// `(tenant, kind)` → the binding's limits, when read from the cluster.
    pub limits: BTreeMap<(String, DecisionKind), Limits>,
    /// Where replay looked, for the "not found" message.
    pub searched: Vec<String>,
    /// Files or ConfigMaps that could not be used, reported as warnings.
    pub warnings: Vec<String>,
}

impl Modules {
    /// The reference policies built into this binary (`builtin:placement`, ...), and nothing
    /// else yet.
    pub fn with_reference_policies() -> Modules {
        let mut modules = Modules::default();
        for name in fleetward_simulate::scenario::BUILTIN_MODULES {
            match fleetward_simulate::scenario::Module::resolve(
                &format!("builtin:{name}"),
                Path::new("."),
            ) {
                Ok(m) => modules.add(
                    m.bytes.to_vec(),
                    format!("the reference policy builtin:{name} built into fleetward"),
                ),
                Err(e) => modules.warnings.push(e),
            }
        }
        modules
            .searched
            .push("the reference policies built into fleetward".into());
        modules
    }

    /// Adds every `*.wasm` and `*.wat` file directly in `dir`.
    ///
    /// # Errors
    /// [`CliError::Read`] when the directory cannot be listed; a file that cannot be read or
    /// assembled is a warning, not an error (it may not be one the log needs).
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), CliError> {
        let io = |source| CliError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm" || e == "wat"))
            .collect();
        paths.sort();
        for path in paths {
            match runtime::read_module(&path) {
                Ok(bytes) => self.add(bytes, path.display().to_string()),
                Err(e) => self.warnings.push(format!(
                    "skipping {}: {}",
                    path.display(),
                    crate::exit::one_line_chain(&e)
                )),
            }
        }
        self.searched.push(format!("--modules {}", dir.display()));
        Ok(())
    }

    /// Adds the module of every Tenant binding that names a ConfigMap, and every binding's
    /// limits, from the cluster `kubeconfig` points at.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the kubeconfig cannot be read or Tenants cannot be listed.
    pub fn add_cluster(&mut self, kubeconfig: &Path) -> Result<(), CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Output)?;
        runtime.block_on(self.add_cluster_async(kubeconfig))?;
        self.searched.push(format!(
            "the cluster of --kubeconfig {}",
            kubeconfig.display()
        ));
        Ok(())
    }

    async fn add_cluster_async(&mut self, path: &Path) -> Result<(), CliError> {
        let usage = |what: String| CliError::Usage(what);
        let kc = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| usage(format!("cannot read kubeconfig {}: {e}", path.display())))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| usage(format!("invalid kubeconfig {}: {e}", path.display())))?;
        let client = kube::Client::try_from(config)
            .map_err(|e| usage(format!("cannot connect with {}: {e}", path.display())))?;
        let tenants = Api::<Tenant>::all(client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| usage(format!("cannot list Tenants: {e}")))?;
        for t in tenants {
            let name = kube::ResourceExt::name_any(&t);
            for kind in DecisionKind::ALL {
                let Some(b) = binding(&t, kind) else { continue };
                self.limits.insert(
                    (name.clone(), kind),
                    fleetward_controller::wasm::limits(&b.limits),
                );
                let Some(ModuleSourceRef::ConfigMap(r)) = b.module.resolve() else {
                    continue;
                };
                let origin = format!("ConfigMap {}/{} key {}", r.namespace, r.name, r.key);
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), &r.namespace);
                match api.get_opt(&r.name).await {
                    Ok(Some(cm)) => match cm.binary_data.and_then(|mut d| d.remove(&r.key)) {
                        Some(bytes) => self.add(bytes.0, origin),
                        None => self.warnings.push(format!(
                            "{origin} (tenant {name} {kind}): no such binaryData key"
                        )),
                    },
                    Ok(None) => self
                        .warnings
                        .push(format!("{origin} (tenant {name} {kind}): not found")),
                    Err(e) => self
                        .warnings
                        .push(format!("{origin} (tenant {name} {kind}): {e}")),
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, bytes: Vec<u8>, origin: String) {
        let digest = Digest::of(&bytes).to_string();
        self.by_digest
            .entry(digest)
            .or_insert(Found { bytes, origin });
    }

    /// Where replay looked, for messages: `--modules DIR, the cluster of --kubeconfig K`.
    pub fn searched(&self) -> String {
        if self.searched.is_empty() {
            "nowhere: pass --modules DIR or --kubeconfig PATH".into()
        } else {
            self.searched.join(" and ")
        }
    }
}

fn binding(t: &Tenant, kind: DecisionKind) -> Option<&PolicyBinding> {
    match kind {
        DecisionKind::Placement => t.spec.placement.as_ref(),
        DecisionKind::UpgradeOrdering => t.spec.upgrade_ordering.as_ref(),
        DecisionKind::Remediation => t.spec.remediation.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_policies_are_always_there() {
        let modules = Modules::with_reference_policies();
        assert_eq!(modules.by_digest.len(), 3, "{:?}", modules.warnings);
        assert!(modules.searched().contains("reference policies"));
    }

    #[test]
    fn a_wat_file_is_found_by_the_digest_of_its_binary() {
        let dir =
            std::env::temp_dir().join(format!("fleetward-replay-modules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let wat = "(module (memory (export \"memory\") 1))";
        std::fs::write(dir.join("m.wat"), wat).unwrap();
        std::fs::write(dir.join("bad.wat"), "(module (oops").unwrap();
        std::fs::write(dir.join("ignored.txt"), "x").unwrap();
        let mut modules = Modules::default();
        modules.add_dir(&dir).unwrap();
        let binary = wat::parse_str(wat).unwrap();
        let digest = Digest::of(&binary).to_string();
        assert_eq!(modules.by_digest.len(), 1, "{:?}", modules.by_digest.keys());
        assert!(modules.by_digest[&digest].origin.ends_with("m.wat"));
        assert_eq!(modules.warnings.len(), 1, "{:?}", modules.warnings);
        assert!(modules.warnings[0].contains("bad.wat"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
