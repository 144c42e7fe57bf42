//! Label and field selectors, all-namespace lists, and `limit`/`continue` paging.

use fleetward_emulator::Emulator;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::common::{api_status, cm, cm_labeled, create_cm, create_ns};

async fn names(api: &Api<ConfigMap>, lp: &ListParams) -> anyhow::Result<Vec<String>> {
    Ok(api
        .list(lp)
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect())
}

#[tokio::test]
async fn label_selectors() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for (name, labels) in [
        ("a", vec![("app", "web"), ("tier", "front")]),
        ("b", vec![("app", "db")]),
        ("c", vec![("app", "cache"), ("tier", "back")]),
        ("d", vec![]),
    ] {
        api.create(&PostParams::default(), &cm_labeled(name, &labels))
            .await?;
    }
    for (sel, want) in [
        ("app=web", vec!["a"]),
        ("app==db", vec!["b"]),
        ("app!=web", vec!["b", "c", "d"]),
        ("app in (web,db)", vec!["a", "b"]),
        ("app notin (web,db)", vec!["c", "d"]),
        ("tier", vec!["a", "c"]),
        ("!tier", vec!["b", "d"]),
        ("app,tier=back", vec!["c"]),
    ] {
        assert_eq!(
            names(&api, &ListParams::default().labels(sel)).await?,
            want,
            "{sel}"
        );
    }
    let err = api_status(
        api.list(&ListParams::default().labels("app in web"))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    Ok(())
}

#[tokio::test]
async fn field_selectors_and_all_namespaces() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let client = emu.client();
    create_ns(&client, "other").await?;
    let default: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    create_cm(&default, "a").await?;
    create_cm(&default, "b").await?;
    create_cm(&other, "a").await?;
    let all: Api<ConfigMap> = Api::all(client);
    let everything = all.list(&ListParams::default()).await?;
    let keys: Vec<_> = everything
        .items
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.as_deref().unwrap_or_default(),
                c.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(keys, ["default/a", "default/b", "other/a"]);
    assert_eq!(
        names(&all, &ListParams::default().fields("metadata.name=a")).await?,
        ["a", "a"]
    );
    assert_eq!(
        names(
            &all,
            &ListParams::default().fields("metadata.namespace=other")
        )
        .await?,
        ["a"]
    );
    assert_eq!(
        names(&default, &ListParams::default().fields("metadata.name!=a")).await?,
        ["b"]
    );
    let err = api_status(
        all.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: data.k")
    );
    Ok(())
}

#[tokio::test]
async fn paging_is_a_consistent_snapshot() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for i in 0..7 {
        create_cm(&api, &format!("cm-{i}")).await?;
    }
    let first = api.list(&ListParams::default().limit(3)).await?;
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.metadata.remaining_item_count, Some(4));
    let token = first.metadata.continue_.clone().unwrap_or_default();
    assert!(!token.is_empty());

    // Changes after the first page are invisible to the rest of the paged list.
    api.delete("cm-5", &DeleteParams::default()).await?;
    create_cm(&api, "cm-9").await?;
    let mut seen: Vec<String> = first
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let mut cont = Some(token);
    let mut pages = 1;
    while let Some(c) = cont.filter(|c| !c.is_empty()) {
        let page = api
            .list(&ListParams::default().limit(3).continue_token(&c))
            .await?;
        assert_eq!(
            page.metadata.resource_version,
            first.metadata.resource_version
        );
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        cont = page.metadata.continue_;
        pages += 1;
        assert!(pages <= 5, "paging does not terminate");
    }
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
    assert_eq!(pages, 3);

    // A fresh list sees the changes.
    let now = names(&api, &ListParams::default()).await?;
    assert!(now.contains(&"cm-9".to_string()) && !now.contains(&"cm-5".to_string()));
    Ok(())
}

#[tokio::test]
async fn expired_continue_token_is_410() -> anyhow::Result<()> {
    let emu = Emulator::new();
    let api: Api<ConfigMap> = Api::namespaced(emu.client(), "default");
    for i in 0..4 {
        create_cm(&api, &format!("cm-{i}")).await?;
    }
    let first = api.list(&ListParams::default().limit(2)).await?;
    create_cm(&api, "late").await?;
    emu.faults().expire_watch_history();
    let token = first.metadata.continue_.unwrap_or_default();
    let err = api_status(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
    let _ = cm("unused", "v");
    Ok(())
}
