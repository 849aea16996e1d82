// Command example is the Go client example of docs/clients.md: it appends two messages, reads them back,
// counts and clears, against the server at $CHATMEMORY_ADDRESS (default 127.0.0.1:50051).
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// retryPolicy retries UNAVAILABLE (Redis down, a replica draining) with gRPC's standard service
// config, as the TypeScript and Python clients do. Retries resend the same request, so an Append
// with a RequestId is stored once however often it is retried.
const retryPolicy = `{"methodConfig": [{
  "name": [{"service": "chatmemory.v1.ChatMemory"}],
  "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
                  "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`

func main() {
	address := os.Getenv("CHATMEMORY_ADDRESS")
	if address == "" {
		address = "127.0.0.1:50051"
	}
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(retryPolicy))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	memory := chatmemoryv1.NewChatMemoryClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conversation := fmt.Sprintf("go-example-%d", time.Now().UnixNano())

	appended, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{
		ConversationId: conversation,
		RequestId:      rand.Text(), // idempotency key: one per logical append
		Messages: []*chatmemoryv1.Message{
			{Role: "user", Content: "What is the capital of France?"},
			{Role: "assistant", Content: "Paris.", Metadata: map[string]string{"model": "m1"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("count after append:", appended.GetCount())

	history, err := memory.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: conversation})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range history.GetMessages() {
		fmt.Printf("%s: %s (at %s)\n", m.GetRole(), m.GetContent(), m.GetCreatedAt().AsTime().Format(time.RFC3339Nano))
	}

	cleared, err := memory.Clear(ctx, &chatmemoryv1.ClearRequest{ConversationId: conversation})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cleared:", cleared.GetDeleted())
}
