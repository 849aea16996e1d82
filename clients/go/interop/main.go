// Command interop is the Go side of the polyglot interop test (clients/interop.test.ts):
//
//	interop append CONVERSATION_ID   < message.json  appends one message, prints {"count": N}
//	interop read CONVERSATION_ID                     prints the history as a JSON array
//	interop watch CONVERSATION_ID N                  watches; prints its first N responses, one JSON line each
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
	if len(os.Args) == 4 && os.Args[1] == "watch" {
		watch(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: interop append|read CONVERSATION_ID, or interop watch CONVERSATION_ID N"))
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

type watchResponse struct {
	Reset    bool           `json:"reset"`
	Epoch    string         `json:"epoch"`
	Messages []watchMessage `json:"messages"`
}

type watchMessage struct {
	Seq     int64  `json:"seq"`
	Role    string `json:"role"`
	Content string `json:"content"`
}

// watch prints the first n responses of a Watch stream, one JSON line each, as they arrive.
func watch(conversation, n string) {
	var count int
	if _, err := fmt.Sscan(n, &count); err != nil || count < 1 {
		fail(fmt.Errorf("N must be a positive number, got %q", n))
	}
	conn, err := grpc.NewClient(os.Getenv("CHATMEMORY_ADDRESS"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := chatmemoryv1.NewChatMemoryClient(conn).Watch(ctx, &chatmemoryv1.WatchRequest{ConversationId: conversation})
	if err != nil {
		fail(err)
	}
	encoder := json.NewEncoder(os.Stdout)
	for i := 0; i < count; i++ {
		response, err := stream.Recv()
		if err != nil {
			fail(err)
		}
		out := watchResponse{Reset: response.GetReset_(), Epoch: response.GetEpoch(), Messages: []watchMessage{}}
		for _, m := range response.GetMessages() {
			out.Messages = append(out.Messages, watchMessage{Seq: m.GetSeq(), Role: m.GetRole(), Content: m.GetContent()})
		}
		if err := encoder.Encode(out); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "interop:", err)
	os.Exit(1)
}
