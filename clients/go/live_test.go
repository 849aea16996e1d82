// Live-server tests of the generated Go client: they talk to the server at $CHATMEMORY_ADDRESS
// (scripts/test-clients.sh starts one against its own Redis) and fail when it is not set.
package clients_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

var conn *grpc.ClientConn

func TestMain(m *testing.M) {
	address := os.Getenv("CHATMEMORY_ADDRESS")
	if address == "" {
		fmt.Fprintln(os.Stderr, "CHATMEMORY_ADDRESS is not set: run these tests with npm run test:clients")
		os.Exit(1)
	}
	var err error
	conn, err = grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	conn.Close()
	os.Exit(code)
}

func client() chatmemoryv1.ChatMemoryClient { return chatmemoryv1.NewChatMemoryClient(conn) }

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func conversationID(t *testing.T) string {
	return fmt.Sprintf("go-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

func TestAppendGetHistoryCountClear(t *testing.T) {
	ctx, memory, id := timeout(t), client(), conversationID(t)
	before := time.Now().Add(-time.Second)

	appended, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{
		{Role: "user", Content: "What is the capital of France?"},
		{Role: "assistant", Content: "Paris. 巴黎 🗼", Name: "geo-bot", Metadata: map[string]string{"model": "m1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if appended.GetCount() != 2 || appended.GetFirstSeq() != 1 || appended.GetLastSeq() != 2 {
		t.Fatalf("Append = %v, want count 2, seqs 1..2", appended)
	}

	history, err := memory.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if history.GetEpoch() == "" {
		t.Errorf("GetHistory epoch is empty for a conversation that holds messages")
	}
	want := []*chatmemoryv1.Message{
		{Role: "user", Content: "What is the capital of France?", Seq: 1},
		{Role: "assistant", Content: "Paris. 巴黎 🗼", Name: "geo-bot", Metadata: map[string]string{"model": "m1"}, Seq: 2},
	}
	if len(history.GetMessages()) != len(want) {
		t.Fatalf("GetHistory returned %d messages, want %d", len(history.GetMessages()), len(want))
	}
	for i, got := range history.GetMessages() {
		created := got.GetCreatedAt()
		if created == nil || created.AsTime().Before(before) || created.AsTime().After(time.Now().Add(time.Second)) {
			t.Errorf("message %d created_at = %v, want the time of the append", i, created)
		}
		if created.GetNanos()%1_000_000 != 0 {
			t.Errorf("message %d created_at has sub-millisecond nanos %d", i, created.GetNanos())
		}
		withoutTime := proto.Clone(got).(*chatmemoryv1.Message)
		withoutTime.CreatedAt = nil
		if withoutTime.GetTokenCount() <= 0 {
			t.Errorf("message %d token_count = %d, want the tokens of its content", i, withoutTime.GetTokenCount())
		}
		withoutTime.TokenCount = 0
		if !proto.Equal(withoutTime, want[i]) {
			t.Errorf("message %d = %v, want %v", i, withoutTime, want[i])
		}
	}

	newest, err := memory.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(newest.GetMessages()) != 1 || newest.GetMessages()[0].GetContent() != "Paris. 巴黎 🗼" {
		t.Errorf("GetHistory limit 1 = %v, want only the newest message", newest.GetMessages())
	}

	count, err := memory.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil || count.GetCount() != 2 {
		t.Fatalf("Count = %v, %v; want 2", count, err)
	}

	cleared, err := memory.Clear(ctx, &chatmemoryv1.ClearRequest{ConversationId: id})
	if err != nil || !cleared.GetDeleted() {
		t.Fatalf("Clear = %v, %v; want deleted", cleared, err)
	}
	count, err = memory.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil || count.GetCount() != 0 {
		t.Fatalf("Count after Clear = %v, %v; want 0", count, err)
	}
	again, err := memory.Clear(ctx, &chatmemoryv1.ClearRequest{ConversationId: id})
	if err != nil || again.GetDeleted() {
		t.Fatalf("second Clear = %v, %v; want deleted=false", again, err)
	}
}

// Every conversation on the server, page after page of 2, each once; this test's is among them with its count.
func TestListConversations(t *testing.T) {
	ctx, memory, id := timeout(t), client(), conversationID(t)
	if _, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{{Role: "user", Content: "hi"}}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int64{}
	token := ""
	for {
		page, err := memory.ListConversations(ctx, &chatmemoryv1.ListConversationsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, summary := range page.GetConversations() {
			if _, twice := seen[summary.GetConversationId()]; twice {
				t.Errorf("%s listed twice", summary.GetConversationId())
			}
			seen[summary.GetConversationId()] = summary.GetCount()
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if count, listed := seen[id]; !listed || count != 1 {
		t.Errorf("ListConversations: %s listed %v with count %d, want listed with count 1", id, listed, count)
	}
	_, err := memory.ListConversations(ctx, &chatmemoryv1.ListConversationsRequest{PageToken: "not-a-token"})
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "page_token") {
		t.Errorf("ListConversations with a made-up token = %v, want INVALID_ARGUMENT page_token", err)
	}
}

func TestInvalidArgument(t *testing.T) {
	ctx, memory, id := timeout(t), client(), conversationID(t)
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"bad conversation_id", func() error {
			_, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: "has spaces", Messages: []*chatmemoryv1.Message{{Role: "user", Content: "hi"}}})
			return err
		}, "conversation_id"},
		{"bad role", func() error {
			_, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{
				{Role: "user", Content: "fine"}, {Role: "wizard", Content: "not a role"},
			}})
			return err
		}, "messages[1].role"},
		{"no messages", func() error {
			_, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id})
			return err
		}, "messages"},
		{"negative limit", func() error {
			_, err := memory.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id, Limit: -1})
			return err
		}, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
			}
			if msg := status.Convert(err).Message(); !strings.Contains(msg, c.field) {
				t.Errorf("message %q does not name %q", msg, c.field)
			}
		})
	}
	// A rejected batch stores nothing, not even its valid first message.
	count, err := memory.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil || count.GetCount() != 0 {
		t.Fatalf("Count after rejected appends = %v, %v; want 0", count, err)
	}
}

func TestDeadlines(t *testing.T) {
	memory, id := client(), conversationID(t)

	// A deadline that is already over: the call fails at once.
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	_, err := memory.Append(expired, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{{Role: "user", Content: "late"}}})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Append past its deadline: code = %v (%v), want DeadlineExceeded", status.Code(err), err)
	}

	// A peer that accepts the connection and never answers (a hung server): the call ends at its
	// deadline rather than hanging.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			held, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { held.Close() })
		}
	}()
	hung, err := grpc.NewClient(silent.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	ctx, cancelHung := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelHung()
	started := time.Now()
	_, err = chatmemoryv1.NewChatMemoryClient(hung).Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if elapsed := time.Since(started); status.Code(err) != codes.DeadlineExceeded || elapsed < 250*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("Count against a silent peer: code %v after %v, want DeadlineExceeded after ~300ms", status.Code(err), elapsed)
	}

	// With time to spare the live server answers.
	if _, err := memory.GetHistory(timeout(t), &chatmemoryv1.GetHistoryRequest{ConversationId: id}); err != nil {
		t.Fatalf("GetHistory with a 5 s deadline: %v", err)
	}
}

func TestHealth(t *testing.T) {
	ctx, health := timeout(t), healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "chatmemory.v1.ChatMemory"} {
		response, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || response.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Health.Check(%q) = %v, %v; want SERVING", service, response, err)
		}
	}
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Health.Check(unknown) code = %v, want NotFound", status.Code(err))
	}
}

func TestWatch(t *testing.T) {
	ctx, memory, id := timeout(t), client(), conversationID(t)
	stream, err := memory.Watch(ctx, &chatmemoryv1.WatchRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	// The first response comes at once; the conversation holds nothing yet.
	first, err := stream.Recv()
	if err != nil || first.GetReset_() || len(first.GetMessages()) != 0 || first.GetEpoch() != "" {
		t.Fatalf("first response = %v, %v; want an empty, non-reset response", first, err)
	}
	if _, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{
		{Role: "user", Content: "one"}, {Role: "assistant", Content: "two"},
	}}); err != nil {
		t.Fatal(err)
	}
	appended, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if appended.GetReset_() || len(appended.GetMessages()) != 2 || appended.GetMessages()[0].GetSeq() != 1 || appended.GetMessages()[1].GetContent() != "two" {
		t.Fatalf("after the append: %v; want seqs 1 and 2", appended)
	}
	if _, err := memory.Clear(ctx, &chatmemoryv1.ClearRequest{ConversationId: id}); err != nil {
		t.Fatal(err)
	}
	cleared, err := stream.Recv()
	if err != nil || !cleared.GetReset_() || len(cleared.GetMessages()) != 0 {
		t.Fatalf("after Clear: %v, %v; want an empty reset", cleared, err)
	}

	// A negative after_seq is INVALID_ARGUMENT naming the field, on the first Recv.
	bad, err := memory.Watch(ctx, &chatmemoryv1.WatchRequest{ConversationId: id, AfterSeq: -1})
	if err == nil {
		_, err = bad.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "after_seq:") {
		t.Fatalf("negative after_seq: %v; want INVALID_ARGUMENT naming after_seq", err)
	}
}
