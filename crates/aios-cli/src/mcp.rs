//! `aios mcp serve`: AIOS's tools for any MCP client, over stdio.
//!
//! A bridge, not a second tool runner: it lists the agent's tools (`tools_request`)
//! and hands each call to the agent (`tool_run`), which runs it through the same
//! policy, confirmation, rate limit and audit log as the model's calls, as outside
//! content named "mcp client". A confirm-level call waits for the person's answer
//! on their own screen; nothing this process or its client sends can answer it.
//! stdout carries the protocol, so nothing else is ever printed there.

use std::path::PathBuf;
use std::sync::Arc;

use aios_common::ipc::client::IpcClient;
use aios_common::ipc::{
    ClientKind, IpcMessage, ToolRunRequest, ToolStatus, ToolsReply, ToolsRequest,
};
use aios_common::types::{ToolCall, ToolDefinition};
use anyhow::Context;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool as McpTool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Tools whose calls change nothing: the client may call them freely (the agent
/// decides anyway; this only sets the MCP hint).
const READ_ONLY: &[&str] = &[
    "file_read",
    "file_list",
    "file_search",
    "wifi_list",
    "system_info",
    "read_page",
    "find_element",
    "get_page_text",
    "screenshot",
];

/// One connection to the agent, one call at a time (the agent runs them one at a
/// time anyway: a question on the screen at a time).
#[derive(Clone)]
struct Bridge {
    agent: Arc<Mutex<IpcClient>>,
}

impl Bridge {
    /// Sends `msg` and returns the agent's answer to `id` (a `tool_result`, a
    /// `tools_reply` or an error), skipping the events every client gets.
    async fn ask(&self, msg: IpcMessage, id: Uuid) -> Result<IpcMessage, ErrorData> {
        let mut agent = self.agent.lock().await;
        agent.send(&msg).await.map_err(unreachable_agent)?;
        loop {
            let m = agent.recv().await.map_err(unreachable_agent)?;
            match &m {
                IpcMessage::ToolResult(r) if r.request_id == id => return Ok(m),
                IpcMessage::ToolsReply(r) if r.request_id == id => return Ok(m),
                IpcMessage::Error(e) if e.request_id == Some(id) => return Ok(m),
                // The question is on the person's screen; the client just waits.
                IpcMessage::ConfirmPending(p) if p.request_id == id => {}
                _ => {}
            }
        }
    }
}

fn unreachable_agent(e: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(
        format!("the AIOS agent is not reachable ({e}); start it with `make run` or `aios-agent`"),
        None,
    )
}

fn to_mcp(def: ToolDefinition) -> McpTool {
    let schema: JsonObject = match def.parameters {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    };
    let read_only = READ_ONLY.contains(&def.name.as_str());
    // Not every write is destructive, but a client should expect the person's
    // confirmation on any of them.
    McpTool::new(def.name, def.description, schema).with_annotations(
        ToolAnnotations::new()
            .read_only(read_only)
            .destructive(!read_only),
    )
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("aios", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "AIOS desktop tools: files, shell, system, Wi-Fi, volume, brightness, browser. \
                 Calls that change something wait for the person to confirm on their screen; \
                 a denial or a timeout comes back as an error result.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let id = Uuid::new_v4();
        match self
            .ask(
                IpcMessage::ToolsRequest(ToolsRequest { request_id: id }),
                id,
            )
            .await?
        {
            IpcMessage::ToolsReply(ToolsReply { tools, .. }) => Ok(
                ListToolsResult::with_all_items(tools.into_iter().map(to_mcp).collect()),
            ),
            IpcMessage::Error(e) => Err(ErrorData::internal_error(e.message, None)),
            _ => Err(ErrorData::internal_error(
                "unexpected answer from the agent",
                None,
            )),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let id = Uuid::new_v4();
        let call = ToolCall {
            id: format!("mcp-{}", id.simple()),
            name: request.name.to_string(),
            arguments: Value::Object(request.arguments.unwrap_or_default()),
        };
        let asked = self.ask(
            IpcMessage::ToolRun(ToolRunRequest {
                request_id: id,
                call,
            }),
            id,
        );
        let answer = tokio::select! {
            a = asked => a?,
            // The client gave up: closing the connection withdraws a question still
            // on the person's screen (a denial); the next call reconnects.
            () = context.ct.cancelled() => {
                self.agent.lock().await.disconnect();
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
        };
        let result = match answer {
            IpcMessage::ToolResult(r) => {
                let content = vec![ContentBlock::text(r.result.content)];
                match r.status {
                    ToolStatus::Ok => CallToolResult::success(content),
                    _ => CallToolResult::error(content),
                }
            }
            IpcMessage::Error(e) => CallToolResult::error(vec![ContentBlock::text(e.message)]),
            _ => {
                return Err(ErrorData::internal_error(
                    "unexpected answer from the agent",
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// Serves MCP on stdin/stdout until the client closes stdin.
pub async fn serve(socket: PathBuf) -> anyhow::Result<()> {
    let mut agent = IpcClient::new(socket, ClientKind::Mcp)
        // A call may wait minutes for the person's answer.
        .with_idle_timeout(std::time::Duration::from_secs(3600));
    agent
        .connect()
        .await
        .context("the AIOS agent is not running; start it with `make run` or `aios-agent`")?;
    let bridge = Bridge {
        agent: Arc::new(Mutex::new(agent)),
    };
    let service = bridge
        .serve(rmcp::transport::stdio())
        .await
        .context("the MCP client did not start a session on stdin")?;
    service.waiting().await.context("the MCP session")?;
    Ok(())
}
