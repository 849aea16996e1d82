// traced-call makes an Append and then a GetHistory on one conversation, with a W3C traceparent
// in the calls' metadata when $TRACEPARENT is set: the header an OpenTelemetry-instrumented Go
// service sends. The tracing test (test-mesh/tracing.test.ts) runs it and checks that the
// server's spans continue that trace. Usage: CHATMEMORY_ADDRESS=host:port traced-call CONVERSATION_ID
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "traced-call:", err)
		os.Exit(1)
	}
}

func run() error {
	address := os.Getenv("CHATMEMORY_ADDRESS")
	if address == "" || len(os.Args) != 2 {
		return fmt.Errorf("usage: CHATMEMORY_ADDRESS=host:port [TRACEPARENT=00-...] traced-call CONVERSATION_ID")
	}
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	memory := chatmemoryv1.NewChatMemoryClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if traceparent := os.Getenv("TRACEPARENT"); traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	id := os.Args[1]
	appended, err := memory.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: []*chatmemoryv1.Message{
		{Role: "user", Content: "Where is the trace?"},
		{Role: "assistant", Content: "Under the caller's span."},
	}})
	if err != nil {
		return fmt.Errorf("Append: %w", err)
	}
	history, err := memory.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id})
	if err != nil {
		return fmt.Errorf("GetHistory: %w", err)
	}
	fmt.Printf("appended %d, read %d\n", appended.GetCount(), len(history.GetMessages()))
	return nil
}
