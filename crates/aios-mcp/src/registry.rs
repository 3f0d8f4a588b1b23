//! [`ToolRegistry`] (the tools by name) and [`ToolExecutor`] (validate, then run with
//! a time limit).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use serde_json::Value;

use crate::tool::{Tool, ToolContext, ToolError};

/// The tools by name, each with its definition. The definition (a schema derived
/// by `schemars`) is built once here, not on every call that validates or redacts.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, (Arc<dyn Tool>, ToolDefinition)>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool` under its definition's name (replacing one of the same name).
    pub fn register(&mut self, tool: impl Tool + 'static) {
        let def = tool.definition();
        self.tools.insert(def.name.clone(), (Arc::new(tool), def));
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|(t, _)| t)
    }

    /// The definition of the tool called `name`.
    pub fn definition(&self, name: &str) -> Option<&ToolDefinition> {
        self.tools.get(name).map(|(_, d)| d)
    }

    /// All definitions, in name order.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools.values().map(|(_, d)| d.clone()).collect()
    }

    /// Registered names, comma-separated.
    pub fn names(&self) -> String {
        self.tools
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs validated calls with a time limit.
#[derive(Debug, Clone)]
pub struct ToolExecutor {
    registry: ToolRegistry,
    ctx: ToolContext,
    timeout: Duration,
}

impl ToolExecutor {
    /// An executor over `registry` giving each call at most `timeout`.
    pub fn new(registry: ToolRegistry, ctx: ToolContext, timeout: Duration) -> Self {
        Self {
            registry,
            ctx,
            timeout,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// The context tools run in.
    pub fn context(&self) -> &ToolContext {
        &self.ctx
    }

    /// The tool for `name` with its requirement, after checking `args` against its
    /// schema. Nothing runs here; an error means the call must not run at all.
    pub fn check(
        &self,
        name: &str,
        args: &Value,
    ) -> Result<(Arc<dyn Tool>, TrustRequirement), ToolError> {
        let (tool, def) = self
            .registry
            .tools
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool {
                name: name.to_owned(),
                available: self.registry.names(),
            })?;
        crate::schema::validate(&def.parameters, args).map_err(|message| {
            ToolError::InvalidArguments {
                tool: name.to_owned(),
                message,
            }
        })?;
        Ok((tool.clone(), tool.trust_requirement()))
    }

    /// Validates and runs a call. Callers that need a policy decision in between use
    /// [`ToolExecutor::check`] first; this validates again, so a skipped check cannot
    /// run bad arguments.
    pub async fn execute(&self, name: &str, args: Value) -> Result<String, ToolError> {
        let (tool, _) = self.check(name, &args)?;
        match tokio::time::timeout(self.timeout, tool.execute(args, &self.ctx)).await {
            Ok(r) => r,
            Err(_) => Err(ToolError::Timeout {
                tool: name.to_owned(),
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool::definition_for;
    use serde_json::json;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct NoArgs {}

    struct Sleepy;

    #[async_trait::async_trait]
    impl Tool for Sleepy {
        fn definition(&self) -> ToolDefinition {
            definition_for::<NoArgs>("sleepy", "Never finishes in time.")
        }
        fn trust_requirement(&self) -> TrustRequirement {
            TrustRequirement::None
        }
        fn describe(&self, _args: &Value) -> String {
            "sleep".into()
        }
        async fn execute(&self, _args: Value, _ctx: &ToolContext) -> Result<String, ToolError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok("woke".into())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_time_limit_is_stopped() {
        let mut r = ToolRegistry::new();
        r.register(Sleepy);
        let ex = ToolExecutor::new(r, ToolContext::new("/".into()), Duration::from_secs(120));
        let e = ex.execute("sleepy", json!({})).await.expect_err("timeout");
        assert_eq!(
            e,
            ToolError::Timeout {
                tool: "sleepy".into(),
                secs: 120
            }
        );
        assert!(e.to_string().contains("did not finish within 120 s"));
    }
}
