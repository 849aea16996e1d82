// Command interop is the Go side of the polyglot interop test (clients/interop.test.ts):
//
//	interop append CONVERSATION_ID   < message.json  appends one message, prints {"count": N}
//	interop read CONVERSATION_ID                     prints the history as a JSON array
//
// Messages are JSON objects with the proto's field names; created_at is {"seconds", "nanos"}, so
// every language's reading can be compared exactly.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

type timestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

type toolCall struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type message struct {
	Role       string            `json:"role"`
	Content    string            `json:"content"`
	Name       string            `json:"name"`
	ToolCallID string            `json:"tool_call_id"`
	Metadata   map[string]string `json:"metadata"`
	ToolCalls  []toolCall        `json:"tool_calls"`
	ID         string            `json:"id"`
	Extra      map[string]any    `json:"extra"`
	CreatedAt  *timestamp        `json:"created_at"`
}

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: interop append|read CONVERSATION_ID"))
	}
	conn, err := grpc.NewClient(os.Getenv("CHATMEMORY_ADDRESS"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	client := chatmemoryv1.NewChatMemoryClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var result any
	switch command, conversation := os.Args[1], os.Args[2]; command {
	case "append":
		var in message
		if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
			fail(err)
		}
		extra, err := structpb.NewStruct(in.Extra)
		if err != nil {
			fail(err)
		}
		calls := []*chatmemoryv1.ToolCall{}
		for _, call := range in.ToolCalls {
			calls = append(calls, &chatmemoryv1.ToolCall{Id: call.ID, Type: call.Type, Name: call.Name, Arguments: call.Arguments})
		}
		response, err := client.Append(ctx, &chatmemoryv1.AppendRequest{
			ConversationId: conversation,
			Messages: []*chatmemoryv1.Message{{
				Role: in.Role, Content: in.Content, Name: in.Name, ToolCallId: in.ToolCallID, Metadata: in.Metadata,
				ToolCalls: calls, Id: in.ID, Extra: extra,
			}},
		})
		if err != nil {
			fail(err)
		}
		result = map[string]int64{"count": response.GetCount()}
	case "read":
		response, err := client.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: conversation})
		if err != nil {
			fail(err)
		}
		messages := []message{}
		for _, m := range response.GetMessages() {
			out := message{
				Role: m.GetRole(), Content: m.GetContent(), Name: m.GetName(), ToolCallID: m.GetToolCallId(), Metadata: m.GetMetadata(),
				ToolCalls: []toolCall{}, ID: m.GetId(), Extra: m.GetExtra().AsMap(),
			}
			if out.Metadata == nil {
				out.Metadata = map[string]string{}
			}
			for _, call := range m.GetToolCalls() {
				out.ToolCalls = append(out.ToolCalls, toolCall{ID: call.GetId(), Type: call.GetType(), Name: call.GetName(), Arguments: call.GetArguments()})
			}
			if m.GetCreatedAt() != nil {
				out.CreatedAt = &timestamp{Seconds: m.GetCreatedAt().GetSeconds(), Nanos: m.GetCreatedAt().GetNanos()}
			}
			messages = append(messages, out)
		}
		result = messages
	default:
		fail(fmt.Errorf("unknown command %q", command))
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "interop:", err)
	os.Exit(1)
}
