package chatmemory

// The mapping between langchaingo's message types and ChatMemory messages. It is the element
// shape of the LangChain adapters (docs/adapters.md): roles, tool calls and `extra.lc` with the
// LangChain message type, so a conversation written from Go reads back in LangChain.js and
// LangChain (Python) and the other way round. The Go part: docs/adapters-go.md.

import (
	"encoding/json"
	"errors"
	"fmt"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/llms"
	"google.golang.org/protobuf/types/known/structpb"
)

// ErrUnsupportedMessage is returned for a message whose type this adapter cannot store.
var ErrUnsupportedMessage = errors.New("unsupported chat message type")

const (
	roleUser      = "user"
	roleAssistant = "assistant"
	roleSystem    = "system"
	roleTool      = "tool"
	roleDeveloper = "developer"

	// extraKey holds the LangChain fields in Message.extra, shared with the LangChain adapters.
	extraKey = "lc"

	// LangChain's message types as Python's message_to_dict names them (langchaingo's "generic"
	// is LangChain's "chat").
	typeHuman    = "human"
	typeAI       = "ai"
	typeSystem   = "system"
	typeTool     = "tool"
	typeChat     = "chat"
	typeFunction = "function"
)

// serverRoles are the roles ChatMemory accepts on a write.
var serverRoles = map[string]bool{roleUser: true, roleAssistant: true, roleSystem: true, roleTool: true, roleDeveloper: true}

// toStored converts one langchaingo message into the Message this adapter stores for it.
func toStored(message llms.ChatMessage) (*chatmemoryv1.Message, error) {
	lc := map[string]any{}
	stored := &chatmemoryv1.Message{}
	switch m := dereference(message).(type) {
	case llms.HumanChatMessage:
		stored.Role, stored.Content, lc["type"] = roleUser, m.Content, typeHuman
	case llms.AIChatMessage:
		stored.Role, stored.Content, lc["type"] = roleAssistant, m.Content, typeAI
		if err := storeToolCalls(stored, lc, m.ToolCalls); err != nil {
			return nil, err
		}
		kwargs := map[string]any{}
		if m.FunctionCall != nil {
			kwargs["function_call"] = map[string]any{"name": m.FunctionCall.Name, "arguments": m.FunctionCall.Arguments}
		}
		if m.ReasoningContent != "" {
			kwargs["reasoning_content"] = m.ReasoningContent
		}
		if len(kwargs) > 0 {
			lc["additional_kwargs"] = kwargs
		}
	case llms.SystemChatMessage:
		stored.Role, stored.Content, lc["type"] = roleSystem, m.Content, typeSystem
	case llms.ToolChatMessage:
		stored.Role, stored.Content, stored.ToolCallId, lc["type"] = roleTool, m.Content, m.ID, typeTool
	case llms.GenericChatMessage:
		stored.Role, stored.Content, stored.Name = roleUser, m.Content, m.Name
		if serverRoles[m.Role] {
			stored.Role = m.Role
		}
		lc["type"], lc["role"] = typeChat, m.Role
	case llms.FunctionChatMessage:
		stored.Role, stored.Content, stored.Name, lc["type"] = roleTool, m.Content, m.Name, typeFunction
	default:
		return storeByType(message)
	}
	extra, err := structpb.NewStruct(map[string]any{extraKey: lc})
	if err != nil {
		return nil, fmt.Errorf("extra: %w", err)
	}
	stored.Extra = extra
	return stored, nil
}

// dereference turns a pointer to one of langchaingo's message structs (their methods have value
// receivers, so pointers are ChatMessages too) into the struct.
func dereference(message llms.ChatMessage) llms.ChatMessage {
	switch m := message.(type) {
	case *llms.HumanChatMessage:
		return *m
	case *llms.AIChatMessage:
		return *m
	case *llms.SystemChatMessage:
		return *m
	case *llms.ToolChatMessage:
		return *m
	case *llms.GenericChatMessage:
		return *m
	case *llms.FunctionChatMessage:
		return *m
	}
	return message
}

// storeByType stores a ChatMessage of another package by what its interface tells: the type, the
// content, and the name or tool call id when it has them.
func storeByType(message llms.ChatMessage) (*chatmemoryv1.Message, error) {
	if message == nil {
		return nil, fmt.Errorf("%w: nil", ErrUnsupportedMessage)
	}
	var known llms.ChatMessage
	content := message.GetContent()
	switch message.GetType() {
	case llms.ChatMessageTypeHuman:
		known = llms.HumanChatMessage{Content: content}
	case llms.ChatMessageTypeAI:
		known = llms.AIChatMessage{Content: content}
	case llms.ChatMessageTypeSystem:
		known = llms.SystemChatMessage{Content: content}
	case llms.ChatMessageTypeTool:
		tool := llms.ToolChatMessage{Content: content}
		if withID, ok := message.(interface{ GetID() string }); ok {
			tool.ID = withID.GetID()
		}
		known = tool
	case llms.ChatMessageTypeFunction:
		function := llms.FunctionChatMessage{Content: content}
		if named, ok := message.(llms.Named); ok {
			function.Name = named.GetName()
		}
		known = function
	default:
		// A generic message of another package does not tell its role.
		return nil, fmt.Errorf("%w: %T of type %q", ErrUnsupportedMessage, message, message.GetType())
	}
	return toStored(known)
}

// storeToolCalls puts the calls into Message.tool_calls, or, when one has no id or name the server
// accepts, all of them into extra as LangChain has them (tool_calls with args parsed, and
// invalid_tool_calls for arguments that are not a JSON object), as the LangChain adapters do.
func storeToolCalls(stored *chatmemoryv1.Message, lc map[string]any, calls []llms.ToolCall) error {
	storable := true
	for _, call := range calls {
		name := functionOf(call).Name
		storable = storable && validLength(call.ID) && validLength(name)
	}
	if storable {
		for _, call := range calls {
			function := functionOf(call)
			stored.ToolCalls = append(stored.ToolCalls, &chatmemoryv1.ToolCall{
				Id: call.ID, Type: call.Type, Name: function.Name, Arguments: function.Arguments,
			})
		}
		return nil
	}
	var valid, invalid []any
	for _, call := range calls {
		function := functionOf(call)
		var args map[string]any
		if json.Unmarshal([]byte(function.Arguments), &args) == nil && args != nil {
			valid = append(valid, map[string]any{"name": function.Name, "args": args, "id": call.ID, "type": "tool_call"})
		} else {
			invalid = append(invalid, map[string]any{
				"name": function.Name, "args": function.Arguments, "id": call.ID, "error": nil, "type": "invalid_tool_call",
			})
		}
	}
	if len(valid) > 0 {
		lc["tool_calls"] = valid
	}
	if len(invalid) > 0 {
		lc["invalid_tool_calls"] = invalid
	}
	return nil
}

func functionOf(call llms.ToolCall) llms.FunctionCall {
	if call.FunctionCall == nil {
		return llms.FunctionCall{}
	}
	return *call.FunctionCall
}

// validLength is the server's rule for a tool call's id and name: 1..128 characters.
func validLength(s string) bool {
	n := len([]rune(s))
	return n >= 1 && n <= 128
}

// fromStored converts a stored message into langchaingo's type for it: by extra.lc.type when a
// LangChain adapter (of any language) wrote it, else by its role. langchaingo's types have no
// place for the message id, metadata or the other LangChain fields, so Messages leaves them out.
func fromStored(stored *chatmemoryv1.Message) llms.ChatMessage {
	lc := lcOf(stored)
	messageType, _ := lc["type"].(string)
	if messageType == "" {
		messageType = typeForRole(stored.GetRole())
	}
	content := stored.GetContent()
	switch messageType {
	case typeHuman:
		return llms.HumanChatMessage{Content: content}
	case typeAI:
		return aiFromStored(stored, lc)
	case typeSystem:
		return llms.SystemChatMessage{Content: content}
	case typeTool:
		return llms.ToolChatMessage{ID: stored.GetToolCallId(), Content: content}
	case typeFunction:
		return llms.FunctionChatMessage{Name: stored.GetName(), Content: content}
	default: // chat, or a role without a LangChain type
		role, _ := lc["role"].(string)
		if role == "" {
			role = stored.GetRole()
		}
		return llms.GenericChatMessage{Role: role, Name: stored.GetName(), Content: content}
	}
}

func lcOf(stored *chatmemoryv1.Message) map[string]any {
	lc, _ := stored.GetExtra().AsMap()[extraKey].(map[string]any)
	return lc
}

// typeForRole is the LangChain type of a message written without extra.lc (by another client).
// developer has no langchaingo type: it reads as a generic message that keeps the role.
func typeForRole(role string) string {
	switch role {
	case roleUser:
		return typeHuman
	case roleAssistant:
		return typeAI
	case roleSystem:
		return typeSystem
	case roleTool:
		return typeTool
	}
	return typeChat
}

func aiFromStored(stored *chatmemoryv1.Message, lc map[string]any) llms.AIChatMessage {
	ai := llms.AIChatMessage{Content: stored.GetContent()}
	for _, call := range stored.GetToolCalls() {
		ai.ToolCalls = append(ai.ToolCalls, llms.ToolCall{
			ID: call.GetId(), Type: call.GetType(),
			FunctionCall: &llms.FunctionCall{Name: call.GetName(), Arguments: call.GetArguments()},
		})
	}
	if len(stored.GetToolCalls()) == 0 {
		ai.ToolCalls = toolCallsFromExtra(lc["tool_calls"])
	}
	// The model made these calls too, and a tool message may answer them: an API rejects that
	// answer when its call is missing.
	ai.ToolCalls = append(ai.ToolCalls, toolCallsFromExtra(lc["invalid_tool_calls"])...)
	kwargs, _ := lc["additional_kwargs"].(map[string]any)
	if function, ok := kwargs["function_call"].(map[string]any); ok {
		name, _ := function["name"].(string)
		arguments, _ := function["arguments"].(string)
		ai.FunctionCall = &llms.FunctionCall{Name: name, Arguments: arguments}
	}
	ai.ReasoningContent, _ = kwargs["reasoning_content"].(string)
	return ai
}

// toolCallsFromExtra reads LangChain's tool_calls (args an object) or invalid_tool_calls (args
// text) from extra.lc as langchaingo's function tool calls.
func toolCallsFromExtra(value any) []llms.ToolCall {
	list, _ := value.([]any)
	var calls []llms.ToolCall
	for _, item := range list {
		call, ok := item.(map[string]any)
		if !ok {
			continue
		}
		id, _ := call["id"].(string)
		name, _ := call["name"].(string)
		arguments, isText := call["args"].(string)
		if !isText {
			encoded, err := json.Marshal(call["args"])
			if err == nil {
				arguments = string(encoded)
			}
		}
		calls = append(calls, llms.ToolCall{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: name, Arguments: arguments}})
	}
	return calls
}
