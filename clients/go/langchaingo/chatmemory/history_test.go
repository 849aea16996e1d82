package chatmemory_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatmemory/chatmemory/clients/go/langchaingo/chatmemory"
	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/llms"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Every langchaingo message type is stored as the LangChain adapters store it (docs/adapters.md)
// and reads back equal, tool calls included.
func TestEveryMessageTypeRoundTrips(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id)
	messages := []llms.ChatMessage{
		llms.SystemChatMessage{Content: "You answer weather questions."},
		llms.HumanChatMessage{Content: "Weather in Paris and Zürich?"},
		llms.AIChatMessage{
			ToolCalls: []llms.ToolCall{
				{ID: "call_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city": "Paris"}`}},
				{ID: "call_2", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Zürich","days":2}`}},
			},
			ReasoningContent: "Two cities: two calls.",
		},
		llms.ToolChatMessage{ID: "call_1", Content: `{"temp": 21}`},
		llms.ToolChatMessage{ID: "call_2", Content: `{"temp": 17}`},
		llms.AIChatMessage{Content: "21 °C in Paris, 17 °C in Zürich."},
		llms.GenericChatMessage{Role: "critic", Name: "reviewer", Content: "Cite a source."},
		llms.GenericChatMessage{Role: "developer", Content: "Use metric units."},
		llms.AIChatMessage{FunctionCall: &llms.FunctionCall{Name: "lookup", Arguments: `{"q":"x"}`}},
		llms.FunctionChatMessage{Name: "lookup", Content: "found"},
	}
	for _, message := range messages[:2] {
		if err := history.AddMessage(ctx, message); err != nil {
			t.Fatal(err)
		}
	}
	if err := history.AddMessages(ctx, messages[2:]...); err != nil {
		t.Fatal(err)
	}

	equalMessages(t, stored(t, client, id), []*chatmemoryv1.Message{
		{Role: "system", Content: "You answer weather questions.", Extra: lcExtra(t, map[string]any{"type": "system"})},
		{Role: "user", Content: "Weather in Paris and Zürich?", Extra: lcExtra(t, map[string]any{"type": "human"})},
		{Role: "assistant", ToolCalls: []*chatmemoryv1.ToolCall{
			{Id: "call_1", Type: "function", Name: "get_weather", Arguments: `{"city": "Paris"}`},
			{Id: "call_2", Type: "function", Name: "get_weather", Arguments: `{"city":"Zürich","days":2}`},
		}, Extra: lcExtra(t, map[string]any{"type": "ai", "additional_kwargs": map[string]any{"reasoning_content": "Two cities: two calls."}})},
		{Role: "tool", ToolCallId: "call_1", Content: `{"temp": 21}`, Extra: lcExtra(t, map[string]any{"type": "tool"})},
		{Role: "tool", ToolCallId: "call_2", Content: `{"temp": 17}`, Extra: lcExtra(t, map[string]any{"type": "tool"})},
		{Role: "assistant", Content: "21 °C in Paris, 17 °C in Zürich.", Extra: lcExtra(t, map[string]any{"type": "ai"})},
		{Role: "user", Name: "reviewer", Content: "Cite a source.", Extra: lcExtra(t, map[string]any{"type": "chat", "role": "critic"})},
		{Role: "developer", Content: "Use metric units.", Extra: lcExtra(t, map[string]any{"type": "chat", "role": "developer"})},
		{Role: "assistant", Extra: lcExtra(t, map[string]any{"type": "ai", "additional_kwargs": map[string]any{
			"function_call": map[string]any{"name": "lookup", "arguments": `{"q":"x"}`},
		}})},
		{Role: "tool", Name: "lookup", Content: "found", Extra: lcExtra(t, map[string]any{"type": "function"})},
	})

	got, err := history.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, messages) {
		t.Errorf("read back:\n%#v\nwant\n%#v", got, messages)
	}
}

// Pointers to langchaingo's message structs are ChatMessages too, and are stored as the structs.
func TestPointerMessagesAreStoredAsTheirStructs(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id)
	if err := history.AddMessages(ctx, &llms.HumanChatMessage{Content: "hi"}, &llms.ToolChatMessage{ID: "c1", Content: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, err := history.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []llms.ChatMessage{llms.HumanChatMessage{Content: "hi"}, llms.ToolChatMessage{ID: "c1", Content: "ok"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back %#v, want %#v", got, want)
	}
}

// A tool call without an id (some providers give none) cannot be a Message.tool_call: it is kept
// in extra as LangChain has it, and reads back as the same call.
func TestToolCallsWithoutIDsKeptInExtra(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id)
	message := llms.AIChatMessage{Content: "Checking.", ToolCalls: []llms.ToolCall{
		{Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}},
		{Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_time", Arguments: `not json`}},
	}}
	if err := history.AddMessage(ctx, message); err != nil {
		t.Fatal(err)
	}
	equalMessages(t, stored(t, client, id), []*chatmemoryv1.Message{{Role: "assistant", Content: "Checking.", Extra: lcExtra(t, map[string]any{
		"type":               "ai",
		"tool_calls":         []any{map[string]any{"name": "get_weather", "args": map[string]any{"city": "Paris"}, "id": "", "type": "tool_call"}},
		"invalid_tool_calls": []any{map[string]any{"name": "get_time", "args": "not json", "id": "", "error": nil, "type": "invalid_tool_call"}},
	})}})
	got, err := history.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []llms.ChatMessage{message}) {
		t.Errorf("read back %#v, want %#v", got, message)
	}
}

// SetMessages is one Replace: the old messages go, the new ones get new seqs after theirs.
func TestSetMessagesReplacesTheConversation(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id)
	if err := history.AddMessages(ctx, llms.HumanChatMessage{Content: "a"}, llms.AIChatMessage{Content: "b"}, llms.HumanChatMessage{Content: "c"}); err != nil {
		t.Fatal(err)
	}
	summary := []llms.ChatMessage{
		llms.SystemChatMessage{Content: "Summary: the user said a and c."},
		llms.AIChatMessage{Content: "Noted."},
	}
	if err := history.SetMessages(ctx, summary); err != nil {
		t.Fatal(err)
	}
	got, err := history.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, summary) {
		t.Errorf("after SetMessages read %#v, want %#v", got, summary)
	}
	raw, err := client.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if seqs := []int64{raw.GetMessages()[0].GetSeq(), raw.GetMessages()[1].GetSeq()}; seqs[0] != 4 || seqs[1] != 5 {
		t.Errorf("replaced messages have seqs %v, want 4 and 5 (the counter goes on)", seqs)
	}

	if err := history.SetMessages(ctx, nil); err != nil {
		t.Fatal(err)
	}
	count, err := client.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil || count.GetCount() != 0 {
		t.Errorf("after SetMessages(nil) Count = %v, %v; want 0", count, err)
	}
}

func TestClearDeletesTheConversation(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id)
	if err := history.AddUserMessage(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := history.AddAIMessage(ctx, "hi"); err != nil {
		t.Fatal(err)
	}
	if err := history.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	count, err := client.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil || count.GetCount() != 0 {
		t.Fatalf("after Clear Count = %v, %v; want 0", count, err)
	}
	if err := history.Clear(ctx); err != nil {
		t.Errorf("Clear of an empty conversation: %v", err)
	}
	if err := history.AddUserMessage(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	got, err := history.Messages(ctx)
	if err != nil || !reflect.DeepEqual(got, []llms.ChatMessage{llms.HumanChatMessage{Content: "again"}}) {
		t.Errorf("after Clear and a new message read %#v, %v", got, err)
	}
}

// Every write carries a request id, so a resent write (gRPC's retry after a lost reply does what
// this interceptor does: sends the same request again) is stored once.
func TestResentWritesAreStoredOnce(t *testing.T) {
	ctx, id := timeout(t), conversationID(t)
	var sent atomic.Int32
	sendTwice := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/Append") || strings.HasSuffix(method, "/Replace") {
			sent.Add(1)
			if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
				return err
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	client := connect(t, grpc.WithUnaryInterceptor(sendTwice))
	history := chatmemory.NewChatMessageHistory(client, id)
	if err := history.AddMessages(ctx, llms.HumanChatMessage{Content: "once"}, llms.AIChatMessage{Content: "only once"}); err != nil {
		t.Fatal(err)
	}
	// The same text again is a new message: a new request id.
	if err := history.AddUserMessage(ctx, "once"); err != nil {
		t.Fatal(err)
	}
	if got := len(stored(t, client, id)); got != 3 || sent.Load() != 2 {
		t.Fatalf("%d Appends, each sent twice, stored %d messages: want 3", sent.Load(), got)
	}
	if err := history.SetMessages(ctx, []llms.ChatMessage{llms.HumanChatMessage{Content: "replaced"}}); err != nil {
		t.Fatal(err)
	}
	raw, err := client.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.GetMessages()) != 1 || raw.GetMessages()[0].GetSeq() != 4 {
		t.Errorf("a resent Replace left %v: want one message with seq 4 (the second send replayed, not run)", raw.GetMessages())
	}
}

// What other clients wrote reads back as langchaingo's types: elements of the LangChain adapters
// (extra.lc, ids and fields langchaingo has no place for) and plain ones (roles only).
func TestReadsWhatOtherClientsWrote(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	_, err := client.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{
		{Role: "system", Content: "Be brief.", Extra: lcExtra(t, map[string]any{"type": "system"})},
		{Role: "user", Content: "And this sky? Thanks.", Id: "h-2", Extra: lcExtra(t, map[string]any{"type": "human", "content": []any{
			map[string]any{"type": "text", "text": "And this sky?"}, map[string]any{"type": "text", "text": " Thanks."},
		}})},
		{Role: "assistant", Id: "run-7f3a", ToolCalls: []*chatmemoryv1.ToolCall{{Id: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			Extra: lcExtra(t, map[string]any{"type": "ai", "usage_metadata": map[string]any{"input_tokens": 31}, "invalid_tool_calls": []any{
				map[string]any{"name": "get_time", "args": "{bad", "id": "call_2", "error": nil, "type": "invalid_tool_call"},
			}})},
		{Role: "tool", ToolCallId: "call_1", Content: "21", Extra: lcExtra(t, map[string]any{"type": "tool", "status": "success"})},
		{Role: "user", Content: "Thanks", Extra: lcExtra(t, map[string]any{"type": "chat", "role": "customer"})},
		{Role: "developer", Content: "Plain developer message"},
		{Role: "user", Content: "plain user", Name: "ann", Metadata: map[string]string{"k": "v"}},
		{Role: "assistant", Content: "plain assistant"},
		{Role: "tool", ToolCallId: "call_9", Content: "plain tool"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := chatmemory.NewChatMessageHistory(client, id).Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []llms.ChatMessage{
		llms.SystemChatMessage{Content: "Be brief."},
		llms.HumanChatMessage{Content: "And this sky? Thanks."},
		llms.AIChatMessage{ToolCalls: []llms.ToolCall{
			{ID: "call_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			{ID: "call_2", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_time", Arguments: "{bad"}},
		}},
		llms.ToolChatMessage{ID: "call_1", Content: "21"},
		llms.GenericChatMessage{Role: "customer", Content: "Thanks"},
		llms.GenericChatMessage{Role: "developer", Content: "Plain developer message"},
		llms.HumanChatMessage{Content: "plain user"},
		llms.AIChatMessage{Content: "plain assistant"},
		llms.ToolChatMessage{ID: "call_9", Content: "plain tool"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read:\n%#v\nwant\n%#v", got, want)
	}
}

// customGeneric is a ChatMessage of another package whose role the adapter cannot know.
type customGeneric struct{}

func (customGeneric) GetType() llms.ChatMessageType { return llms.ChatMessageTypeGeneric }
func (customGeneric) GetContent() string            { return "?" }

// Bad input stores nothing: the server's INVALID_ARGUMENT comes through as a gRPC status, and a
// message the adapter cannot map fails the batch before anything is sent.
func TestBadInputStoresNothing(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	err := chatmemory.NewChatMessageHistory(client, "has spaces").AddUserMessage(ctx, "hi")
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "conversation_id") {
		t.Errorf("AddUserMessage on a bad id: %v; want INVALID_ARGUMENT naming conversation_id", err)
	}

	history := chatmemory.NewChatMessageHistory(client, id)
	err = history.AddMessages(ctx, llms.HumanChatMessage{Content: "fine"}, customGeneric{})
	if !errors.Is(err, chatmemory.ErrUnsupportedMessage) {
		t.Errorf("AddMessages with an unknown generic message: %v; want ErrUnsupportedMessage", err)
	}
	err = history.AddMessages(ctx, llms.HumanChatMessage{Content: "fine"},
		llms.AIChatMessage{ToolCalls: []llms.ToolCall{{ID: "c1", Type: "bad type!", FunctionCall: &llms.FunctionCall{Name: "f"}}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "messages[1].tool_calls[0].type") {
		t.Errorf("AddMessages with a bad tool call type: %v; want INVALID_ARGUMENT naming messages[1].tool_calls[0].type", err)
	}
	if got := stored(t, client, id); len(got) != 0 {
		t.Errorf("stored %v after rejected writes, want nothing", got)
	}
}

// A call whose context has no deadline gets the history's timeout: a server that accepts the
// connection and never answers costs that long, not forever.
func TestCallsWithoutDeadlineGetTheTimeout(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	conn, err := grpc.NewClient(silent.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	history := chatmemory.NewChatMessageHistory(chatmemoryv1.NewChatMemoryClient(conn), "c", chatmemory.WithTimeout(300*time.Millisecond))

	started := time.Now()
	_, err = history.Messages(context.Background())
	if status.Code(err) != codes.DeadlineExceeded || time.Since(started) > 3*time.Second {
		t.Errorf("Messages against a silent server: %v after %v; want DEADLINE_EXCEEDED after about 300ms", err, time.Since(started))
	}
}

// WithTTL gives the conversation its own expiry on every write.
func TestWithTTLExpiresTheConversation(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id, chatmemory.WithTTL(time.Second))
	if err := history.AddUserMessage(ctx, "short-lived"); err != nil {
		t.Fatal(err)
	}
	if got, err := history.Messages(ctx); err != nil || len(got) != 1 {
		t.Fatalf("right after the write read %v, %v; want the message", got, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if got, err := history.Messages(ctx); err != nil || len(got) != 0 {
		t.Errorf("after the TTL read %v, %v; want nothing", got, err)
	}
}

// Turns written with AddMessages by many replicas at once are never interleaved: each is one Append.
func TestConcurrentTurnsStayWhole(t *testing.T) {
	ctx, id := timeout(t), conversationID(t)
	const replicas = 8
	errs := make(chan error, replicas)
	for i := range replicas {
		history := chatmemory.NewChatMessageHistory(connect(t), id)
		go func() {
			errs <- history.AddMessages(ctx, llms.HumanChatMessage{Content: fmt.Sprint("question ", i)}, llms.AIChatMessage{Content: fmt.Sprint("answer ", i)})
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := chatmemory.NewChatMessageHistory(connect(t), id).Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*replicas {
		t.Fatalf("stored %d messages, want %d", len(got), 2*replicas)
	}
	seen := map[string]bool{}
	for i := 0; i < len(got); i += 2 {
		question, answer := got[i].GetContent(), got[i+1].GetContent()
		if strings.TrimPrefix(question, "question ") != strings.TrimPrefix(answer, "answer ") || seen[question] {
			t.Errorf("messages %d and %d are %q and %q: want one whole turn", i, i+1, question, answer)
		}
		seen[question] = true
	}
}
