package chatmemory_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chatmemory/chatmemory/clients/go/langchaingo/chatmemory"
	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/fake"
	"github.com/tmc/langchaingo/memory"
	"google.golang.org/protobuf/types/known/structpb"
)

func lcExtra(t *testing.T, fields map[string]any) *structpb.Struct {
	t.Helper()
	extra, err := structpb.NewStruct(map[string]any{"lc": fields})
	if err != nil {
		t.Fatal(err)
	}
	return extra
}

// langchaingo's ConversationBuffer over the adapter, turn by turn: what it loads before each turn
// is every earlier turn, and what ChatMemory holds is one user and one assistant message per turn.
func TestConversationBufferMultiTurn(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	buffer := memory.NewConversationBuffer(memory.WithChatHistory(chatmemory.NewChatMessageHistory(client, id)))
	turns := [][2]string{
		{"What is the capital of France?", "Paris."},
		{"How many people live there?", "About 2.1 million."},
		{"And in Zürich? 🏔", "About 420,000."},
	}

	var want []string
	var wantStored []*chatmemoryv1.Message
	for _, turn := range turns {
		loaded, err := buffer.LoadMemoryVariables(ctx, map[string]any{"input": turn[0]})
		if err != nil {
			t.Fatal(err)
		}
		if got := loaded["history"]; got != strings.Join(want, "\n") {
			t.Fatalf("history before %q = %q, want %q", turn[0], got, strings.Join(want, "\n"))
		}
		if err := buffer.SaveContext(ctx, map[string]any{"input": turn[0]}, map[string]any{"text": turn[1]}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "Human: "+turn[0], "AI: "+turn[1])
		wantStored = append(wantStored,
			&chatmemoryv1.Message{Role: "user", Content: turn[0], Extra: lcExtra(t, map[string]any{"type": "human"})},
			&chatmemoryv1.Message{Role: "assistant", Content: turn[1], Extra: lcExtra(t, map[string]any{"type": "ai"})})
	}
	equalMessages(t, stored(t, client, id), wantStored)

	// Another replica (its own connection and history) loads the same conversation as messages.
	replica := memory.NewConversationBuffer(memory.WithReturnMessages(true),
		memory.WithChatHistory(chatmemory.NewChatMessageHistory(connect(t), id)))
	loaded, err := replica.LoadMemoryVariables(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wantMessages []llms.ChatMessage
	for _, turn := range turns {
		wantMessages = append(wantMessages, llms.HumanChatMessage{Content: turn[0]}, llms.AIChatMessage{Content: turn[1]})
	}
	if !reflect.DeepEqual(loaded["history"], wantMessages) {
		t.Errorf("replica loaded %#v, want %#v", loaded["history"], wantMessages)
	}

	if err := buffer.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	loaded, err = replica.LoadMemoryVariables(ctx, nil)
	if err != nil || len(loaded["history"].([]llms.ChatMessage)) != 0 {
		t.Errorf("after Clear the replica loaded %v, %v; want nothing", loaded, err)
	}
}

// recordingLLM is langchaingo's fake model that also keeps the prompts it was given.
type recordingLLM struct {
	*fake.LLM
	prompts []string
}

func (r *recordingLLM) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	for _, message := range messages {
		for _, part := range message.Parts {
			if text, ok := part.(llms.TextContent); ok {
				r.prompts = append(r.prompts, text.Text)
			}
		}
	}
	return r.LLM.GenerateContent(ctx, messages, options...)
}

func (r *recordingLLM) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, r, prompt, options...)
}

// A conversation chain (the README's example) puts the stored turns into the model's prompt.
func TestConversationChainPromptsWithStoredTurns(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	llm := &recordingLLM{LLM: fake.NewFakeLLM([]string{"Paris.", "About 2.1 million."})}
	history := chatmemory.NewChatMessageHistory(client, id)
	chain := chains.NewConversation(llm, memory.NewConversationBuffer(memory.WithChatHistory(history)))

	for i, question := range []string{"What is the capital of France?", "How many people live there?"} {
		answer, err := chains.Run(ctx, chain, question)
		if err != nil {
			t.Fatal(err)
		}
		if answer != []string{"Paris.", "About 2.1 million."}[i] {
			t.Fatalf("turn %d answered %q", i, answer)
		}
	}
	if len(llm.prompts) != 2 {
		t.Fatalf("the model got %d prompts, want 2", len(llm.prompts))
	}
	if strings.Contains(llm.prompts[0], "Paris.") {
		t.Errorf("the first prompt already holds an answer:\n%s", llm.prompts[0])
	}
	if !strings.Contains(llm.prompts[1], "Human: What is the capital of France?\nAI: Paris.\nHuman: How many people live there?") {
		t.Errorf("the second prompt lacks the first turn:\n%s", llm.prompts[1])
	}
	if got := len(stored(t, client, id)); got != 4 {
		t.Errorf("stored %d messages after two turns, want 4", got)
	}
}

// The window is the server's: a buffer over a long conversation loads its newest messages only.
func TestBufferLoadsTheServersWindow(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	history := chatmemory.NewChatMessageHistory(client, id, chatmemory.WithPinnedSystemMessages())
	if err := history.AddMessage(ctx, llms.SystemChatMessage{Content: "Answer briefly."}); err != nil {
		t.Fatal(err)
	}
	buffer := memory.NewConversationBuffer(memory.WithChatHistory(history), memory.WithReturnMessages(true))
	const turns = 30 // more than any window this server keeps by default (10 turns)
	for i := range turns {
		if err := buffer.SaveContext(ctx, map[string]any{"input": fmt.Sprint("question ", i)}, map[string]any{"output": fmt.Sprint("answer ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := buffer.LoadMemoryVariables(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	messages := loaded["history"].([]llms.ChatMessage)
	count, err := client.Count(ctx, &chatmemoryv1.CountRequest{ConversationId: id})
	if err != nil {
		t.Fatal(err)
	}
	if count.GetPinned() != 1 || int(count.GetCount()) >= 2*turns || len(messages) != int(count.GetCount())+1 {
		t.Fatalf("loaded %d messages; Count = %v: want the pinned system prompt plus a window shorter than %d", len(messages), count, 2*turns)
	}
	if messages[0] != (llms.SystemChatMessage{Content: "Answer briefly."}) {
		t.Errorf("first message = %#v, want the pinned system prompt", messages[0])
	}
	if last := messages[len(messages)-1]; !reflect.DeepEqual(last, llms.AIChatMessage{Content: fmt.Sprint("answer ", turns-1)}) {
		t.Errorf("last message = %#v, want the newest answer", last)
	}

	limited, err := chatmemory.NewChatMessageHistory(client, id, chatmemory.WithLimit(2)).Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []llms.ChatMessage{
		llms.SystemChatMessage{Content: "Answer briefly."},
		llms.HumanChatMessage{Content: fmt.Sprint("question ", turns-1)},
		llms.AIChatMessage{Content: fmt.Sprint("answer ", turns-1)},
	}
	if !reflect.DeepEqual(limited, want) {
		t.Errorf("WithLimit(2) read %#v, want the pinned prompt and the newest turn %#v", limited, want)
	}
}

// WithMaxTokens bounds what a buffer loads by the server's token counts, with no pruning writes
// (langchaingo's ConversationTokenBuffer prunes by rewriting the whole history).
func TestWithMaxTokensBoundsTheBuffer(t *testing.T) {
	ctx, client, id := timeout(t), connect(t), conversationID(t)
	writer := chatmemory.NewChatMessageHistory(client, id)
	for i := range 6 {
		if err := writer.AddMessages(ctx, llms.HumanChatMessage{Content: fmt.Sprint("question number ", i)}, llms.AIChatMessage{Content: fmt.Sprint("answer number ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	const budget = 12
	raw, err := client.GetHistory(ctx, &chatmemoryv1.GetHistoryRequest{ConversationId: id, MaxTokens: budget})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(raw.GetMessages()); n == 0 || n >= 12 || raw.GetTotalTokens() > budget {
		t.Fatalf("GetHistory max_tokens %d returned %d messages, %d tokens: want a part of the 12 that fits", budget, n, raw.GetTotalTokens())
	}
	buffer := memory.NewConversationBuffer(memory.WithReturnMessages(true),
		memory.WithChatHistory(chatmemory.NewChatMessageHistory(client, id, chatmemory.WithMaxTokens(budget))))
	loaded, err := buffer.LoadMemoryVariables(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	messages := loaded["history"].([]llms.ChatMessage)
	if len(messages) != len(raw.GetMessages()) || !reflect.DeepEqual(messages[len(messages)-1], llms.AIChatMessage{Content: "answer number 5"}) {
		t.Errorf("the buffer loaded %#v: want the newest %d messages", messages, len(raw.GetMessages()))
	}
}
