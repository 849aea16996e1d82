// Command example is the langchaingo example of the README: a conversation chain whose memory is
// a ChatMemory conversation, against the server at $CHATMEMORY_ADDRESS (default 127.0.0.1:50051).
// The model is langchaingo's fake LLM, so it runs without a model provider.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chatmemory/chatmemory/clients/go/langchaingo/chatmemory"
	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms/fake"
	"github.com/tmc/langchaingo/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	address := os.Getenv("CHATMEMORY_ADDRESS")
	if address == "" {
		address = "127.0.0.1:50051"
	}
	ctx := context.Background()
	llm := fake.NewFakeLLM([]string{"Paris.", "About 2.1 million people."})
	conversation := fmt.Sprintf("langchaingo-example-%d", time.Now().UnixNano())

	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(chatmemory.RetryServiceConfig))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	history := chatmemory.NewChatMessageHistory(chatmemoryv1.NewChatMemoryClient(conn), conversation)
	chain := chains.NewConversation(llm, memory.NewConversationBuffer(memory.WithChatHistory(history)))
	for _, question := range []string{"What is the capital of France?", "How many people live there?"} {
		answer, err := chains.Run(ctx, chain, question)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("answer:", answer)
	}

	messages, err := history.Messages(ctx) // what any replica now reads for this conversation
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("messages stored:", len(messages))
	if err := history.Clear(ctx); err != nil {
		log.Fatal(err)
	}
}
