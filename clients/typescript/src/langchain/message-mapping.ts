/**
 * One LangChain message <-> one ChatMemory Message, as docs/adapters.md specifies for both
 * languages. The writer starts from the framework's own serializer (`toDict()`, the same
 * snake_case keys as Python's `message_to_dict`) and the reader ends in its deserializer
 * (`mapStoredMessagesToChatMessages`), so every field LangChain serializes is covered by one
 * table and nothing is picked field by field from class internals.
 */
import type { JsonObject, JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import { type BaseMessage, mapStoredMessagesToChatMessages, type StoredMessage } from "@langchain/core/messages";
import type { Message, MessageSchema } from "../../../../gen/ts/chatmemory/v1/chatmemory_pb.js";

/** The key of `Message.extra` that holds the LangChain fields. */
export const EXTRA_KEY = "lc";

export type ElementInit = MessageInitShape<typeof MessageSchema>;

/** Message types as Python's message_to_dict names them (JS calls `chat` `generic`). */
type LangChainType = "human" | "ai" | "system" | "tool" | "chat" | "function";
const ROLE_OF_TYPE: Record<Exclude<LangChainType, "chat">, string> = {
  human: "user",
  ai: "assistant",
  system: "system",
  tool: "tool",
  function: "tool",
};
/** Roles the server accepts on Append (src/service/validate.ts). */
const SERVER_ROLES: ReadonlySet<string> = new Set(["user", "assistant", "system", "tool", "developer"]);
/** The server's rule for Message.id: 1..128 printable ASCII, no spaces. */
const MESSAGE_ID = /^[\x21-\x7e]{1,128}$/;
const DEVELOPER_MARK = "__openai_role__";

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonEmptyObject(value: unknown): value is JsonObject {
  return isObject(value) && Object.keys(value).length > 0;
}

function isLangChainType(type: string): type is LangChainType {
  return type === "chat" || type in ROLE_OF_TYPE;
}

/** LangChain's `.text` of a content given as parts: the text parts, joined. */
function textOfParts(parts: JsonValue[]): string {
  return parts.map((part) => (isObject(part) && part.type === "text" && typeof part.text === "string" ? part.text : "")).join("");
}

function fitsToolCall(call: JsonValue): call is JsonObject & { id: string; name: string } {
  return (
    isObject(call) &&
    typeof call.id === "string" &&
    call.id.length >= 1 &&
    call.id.length <= 128 &&
    typeof call.name === "string" &&
    call.name.length >= 1 &&
    call.name.length <= 128
  );
}

/** The fields only some message types have. */
function mapTypeFields(type: LangChainType, data: JsonObject, element: ElementInit, lc: JsonObject): void {
  switch (type) {
    case "system":
      if (isObject(data.additional_kwargs) && data.additional_kwargs[DEVELOPER_MARK] === "developer") element.role = "developer";
      break;
    case "chat": {
      const role = typeof data.role === "string" ? data.role : "";
      element.role = SERVER_ROLES.has(role) ? role : "user";
      lc.role = role;
      break;
    }
    case "tool":
      if (typeof data.tool_call_id === "string") element.toolCallId = data.tool_call_id;
      if (typeof data.status === "string") lc.status = data.status;
      if (data.artifact !== undefined && data.artifact !== null) lc.artifact = data.artifact;
      break;
    case "ai": {
      const calls = Array.isArray(data.tool_calls) ? data.tool_calls : [];
      if (calls.every(fitsToolCall)) {
        element.toolCalls = calls.map((call) => ({ id: call.id, name: call.name, arguments: JSON.stringify(call.args ?? {}) }));
      } else {
        lc.tool_calls = calls;
      }
      if (data.usage_metadata !== undefined && data.usage_metadata !== null) lc.usage_metadata = data.usage_metadata;
      if (Array.isArray(data.invalid_tool_calls) && data.invalid_tool_calls.length > 0) lc.invalid_tool_calls = data.invalid_tool_calls;
      break;
    }
  }
}

/** The ChatMemory Message that stores `message` (docs/adapters.md, "The element mapping"). */
export function toElement(message: BaseMessage): ElementInit {
  const serialized = message.toDict() as { type: string; data: unknown };
  const type = serialized.type === "generic" ? "chat" : serialized.type;
  if (!isLangChainType(type)) {
    throw new TypeError(`ChatMemoryMessageHistory cannot store a LangChain message of type ${JSON.stringify(serialized.type)}`);
  }
  // As JSON: keys whose value is undefined are left out, as JSON.stringify does.
  const data = JSON.parse(JSON.stringify(serialized.data)) as JsonObject;
  const lc: JsonObject = { type };
  const element: ElementInit = { role: type === "chat" ? "" : ROLE_OF_TYPE[type], content: "", extra: { [EXTRA_KEY]: lc } };

  if (typeof data.content === "string") {
    element.content = data.content;
  } else if (Array.isArray(data.content)) {
    element.content = textOfParts(data.content);
    lc.content = data.content;
  }
  if (typeof data.id === "string" && data.id !== "") {
    if (MESSAGE_ID.test(data.id)) element.id = data.id;
    else lc.id = data.id;
  }
  if (typeof data.name === "string" && data.name !== "") element.name = data.name;
  if (isNonEmptyObject(data.additional_kwargs)) lc.additional_kwargs = data.additional_kwargs;
  if (isNonEmptyObject(data.response_metadata)) lc.response_metadata = data.response_metadata;

  mapTypeFields(type, data, element, lc);
  if ((type === "human" || type === "ai") && data.example === true) lc.example = true;
  // Fields this table does not know (LangChain.js's ToolMessage `metadata`, say) are kept as they are.
  for (const [key, value] of Object.entries(data)) {
    if (!MAPPED_KEYS.has(key) && value !== null) lc[key] = value;
  }
  return element;
}

/** The serialized keys the table above maps; `tool_call_chunks` is a chunk's, and a chunk is stored as its message. */
const MAPPED_KEYS: ReadonlySet<string> = new Set([
  "type",
  "content",
  "id",
  "name",
  "additional_kwargs",
  "response_metadata",
  "role",
  "tool_call_id",
  "status",
  "artifact",
  "tool_calls",
  "usage_metadata",
  "invalid_tool_calls",
  "example",
  "tool_call_chunks",
]);

/** Keys of `extra.lc` read by their own rule; every other key is the LangChain field of the same name. */
const SPECIAL_KEYS: ReadonlySet<string> = new Set(["type", "content", "id", "role", "tool_calls"]);

interface ToolCallsRead {
  tool_calls: JsonObject[];
  invalid_tool_calls: JsonObject[];
}

/** Message.tool_calls as LangChain tool calls; arguments that are not a JSON object become invalid tool calls. */
function readToolCalls(element: Message): ToolCallsRead {
  const read: ToolCallsRead = { tool_calls: [], invalid_tool_calls: [] };
  for (const call of element.toolCalls) {
    let args: unknown;
    try {
      args = JSON.parse(call.arguments);
    } catch {
      args = undefined;
    }
    if (isObject(args)) read.tool_calls.push({ name: call.name, args, id: call.id, type: "tool_call" });
    else read.invalid_tool_calls.push({ name: call.name, args: call.arguments, id: call.id, type: "invalid_tool_call" });
  }
  return read;
}

/** The StoredMessage (type as LangChain.js names it, data as toDict gives it) for an element. */
function toStoredMessage(element: Message): StoredMessage {
  const lc = element.extra?.[EXTRA_KEY];
  const data: JsonObject = { content: element.content };
  let type: string;
  if (isObject(lc) && typeof lc.type === "string") {
    type = lc.type;
    if (Array.isArray(lc.content)) data.content = lc.content;
    if (type === "chat") data.role = typeof lc.role === "string" ? lc.role : element.role;
    for (const [key, value] of Object.entries(lc)) if (!SPECIAL_KEYS.has(key)) data[key] = value;
    if (typeof lc.id === "string") data.id = lc.id;
    if (Array.isArray(lc.tool_calls)) data.tool_calls = lc.tool_calls;
  } else {
    // Written by another client: the role decides.
    const byRole: Record<string, string> = { user: "human", assistant: "ai", system: "system", developer: "system", tool: "tool" };
    type = byRole[element.role] ?? "chat";
    if (type === "chat") data.role = element.role;
    if (element.role === "developer") data.additional_kwargs = { [DEVELOPER_MARK]: "developer" };
  }
  if (element.id !== "") data.id = element.id;
  if (element.name !== "") data.name = element.name;
  // LangChain's deserializer requires these; an element another client wrote may lack them.
  if (type === "tool") data.tool_call_id = element.toolCallId;
  if (type === "function") data.name = element.name;
  if (type === "ai" && element.toolCalls.length > 0) {
    const read = readToolCalls(element);
    data.tool_calls = read.tool_calls;
    if (read.invalid_tool_calls.length > 0) {
      const stored = Array.isArray(data.invalid_tool_calls) ? data.invalid_tool_calls : [];
      data.invalid_tool_calls = [...stored, ...read.invalid_tool_calls];
    }
  }
  return { type: type === "chat" ? "generic" : type, data } as unknown as StoredMessage;
}

/** The LangChain messages stored as `elements`, in order. */
export function fromElements(elements: readonly Message[]): BaseMessage[] {
  return mapStoredMessagesToChatMessages(elements.map(toStoredMessage));
}
