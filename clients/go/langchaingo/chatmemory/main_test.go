// Live-server tests of the langchaingo adapter: they talk to the server at $CHATMEMORY_ADDRESS
// (scripts/test-clients.sh starts one on its own Redis) and fail when it is not set.
package chatmemory_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

var address string

func TestMain(m *testing.M) {
	address = os.Getenv("CHATMEMORY_ADDRESS")
	if address == "" {
		fmt.Fprintln(os.Stderr, "CHATMEMORY_ADDRESS is not set: run these tests with npm run test:clients")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// connect opens a connection of its own, as one replica of a caller would.
func connect(t *testing.T, options ...grpc.DialOption) chatmemoryv1.ChatMemoryClient {
	t.Helper()
	options = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, options...)
	conn, err := grpc.NewClient(address, options...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return chatmemoryv1.NewChatMemoryClient(conn)
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func conversationID(t *testing.T) string {
	return fmt.Sprintf("langchaingo-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// stored reads the conversation with the raw generated client: what ChatMemory holds, whatever
// the adapter makes of it. Server-set fields (seq, created_at, token_count) are checked, then
// cleared so the rest compares with proto.Equal.
func stored(t *testing.T, client chatmemoryv1.ChatMemoryClient, id string) []*chatmemoryv1.Message {
	t.Helper()
	history, err := client.GetHistory(timeout(t), &chatmemoryv1.GetHistoryRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	var messages []*chatmemoryv1.Message
	for i, message := range history.GetMessages() {
		if message.GetSeq() <= 0 || message.GetCreatedAt() == nil {
			t.Errorf("stored message %d has seq %d, created_at %v: want both set by the server", i, message.GetSeq(), message.GetCreatedAt())
		}
		clone := proto.Clone(message).(*chatmemoryv1.Message)
		clone.Seq, clone.CreatedAt, clone.TokenCount = 0, nil, 0
		messages = append(messages, clone)
	}
	return messages
}

// equalMessages reports the first difference between two lists of stored messages.
func equalMessages(t *testing.T, got, want []*chatmemoryv1.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stored %d messages, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("stored message %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}
