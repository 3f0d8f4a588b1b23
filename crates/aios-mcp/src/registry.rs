//! [`ToolRegistry`] (the tools by name) and [`ToolExecutor`] (validate, then run with
//! a time limit).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use serde_json::Value;

use crate::tool::{Assessment, Tool, ToolContext, ToolError};

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

    /// Adds a shared tool (the browser's tools share one browser).
    pub fn register_shared(&mut self, tool: Arc<dyn Tool>) {
        let def = tool.definition();
        self.tools.insert(def.name.clone(), (tool, def));
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

    /// The names of the tools that only read (trust requirement `None`), in name
    /// order.
    pub fn read_only(&self) -> Vec<String> {
        self.tools
            .iter()
            .filter(|(_, (t, _))| t.trust_requirement() == TrustRequirement::None)
            .map(|(n, _)| n.clone())
            .collect()
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

    /// The tool for `name` with what this call needs, after checking `args` against
    /// its schema and letting the tool judge them. Nothing runs here; an error means
    /// the call must not run at all.
    pub async fn check(
        &self,
        name: &str,
        args: &Value,
    ) -> Result<(Arc<dyn Tool>, Assessment), ToolError> {
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
        let mut assessed = tool.assess(args, &self.ctx).await?;
        // A tool may raise its own floor, never lower it.
        assessed.requirement = assessed.requirement.max(tool.trust_requirement());
        Ok((tool.clone(), assessed))
    }

    /// `args` with every secret redacted: the schema's `x-secret` properties and
    /// those the tool names for this call ([`Tool::secret_arguments`]). An unknown
    /// tool's arguments are redacted by their names.
    pub async fn redacted(&self, name: &str, args: &Value) -> Value {
        let Some((tool, def)) = self.registry.tools.get(name) else {
            return crate::schema::redact_unknown(args);
        };
        let mut shown = crate::schema::redact(&def.parameters, args);
        let secret = tool.secret_arguments(args, &self.ctx).await;
        if let Some(map) = shown.as_object_mut() {
            for key in secret {
                if let Some(v) = map.get_mut(&key) {
                    *v = Value::String(crate::schema::REDACTED.into());
                }
            }
        }
        shown
    }

    /// Validates and runs a call. Callers that need a policy decision in between use
    /// [`ToolExecutor::check`] first; this validates again, so a skipped check cannot
    /// run bad arguments.
    pub async fn execute(&self, name: &str, args: Value) -> Result<String, ToolError> {
        self.execute_as(name, args, TrustRequirement::DoubleConfirm)
            .await
    }

    /// Runs a call that was allowed at `approved`: if the machine changed since it
    /// was judged (the file a write was to create now exists) so that it needs more,
    /// it does not run, and the error says to ask again.
    pub async fn execute_as(
        &self,
        name: &str,
        args: Value,
        approved: TrustRequirement,
    ) -> Result<String, ToolError> {
        let (tool, now) = self.check(name, &args).await?;
        if now.requirement > approved {
            return Err(ToolError::failed(format!(
                "not run: since it was allowed, `{name}` came to need more ({}); ask for it again",
                if now.notes.is_empty() {
                    "a typed DELETE".to_owned()
                } else {
                    now.notes.join("; ")
                }
            )));
        }
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
