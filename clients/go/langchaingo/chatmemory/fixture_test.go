package chatmemory_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"testing"

	"github.com/chatmemory/chatmemory/clients/go/langchaingo/chatmemory"
	chatmemoryv1 "github.com/chatmemory/chatmemory/gen/go/chatmemory/v1"
	"github.com/tmc/langchaingo/llms"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The conversation the LangChain adapters (JS and Python) are tested with: LangChain messages and
// the elements they store (docs/adapters.md).
const langchainFixture = "../../../../test/fixtures/langchain-conversation.json"

// A conversation the LangChain adapters wrote reads in Go as langchaingo has these messages, and
// the messages langchaingo can hold whole are stored by Go exactly as LangChain stores them.
func TestLangChainFixtureConversation(t *testing.T) {
	raw, err := os.ReadFile(langchainFixture)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip(langchainFixture + " is not in this checkout (it comes with the LangChain adapters)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Conversation []struct {
			Element json.RawMessage `json:"element"`
		} `json:"conversation"`
	}
	if err := json.Unmarshal(raw, &fixture); err != nil {
		t.Fatal(err)
	}
	var elements []*chatmemoryv1.Message
	for _, pair := range fixture.Conversation {
		element := &chatmemoryv1.Message{}
		if err := protojson.Unmarshal(pair.Element, element); err != nil {
			t.Fatal(err)
		}
		elements = append(elements, element)
	}

	// One langchaingo message per fixture message; same = Go stores it as the fixture's element.
	want := []struct {
		message llms.ChatMessage
		same    bool
	}{
		{llms.SystemChatMessage{Content: "You answer weather questions."}, true},
		{llms.HumanChatMessage{Content: "Weather in Paris and Zürich?"}, false}, // id, additional_kwargs
		{llms.HumanChatMessage{Content: "And this sky? Thanks."}, false},        // content parts
		{llms.AIChatMessage{ToolCalls: []llms.ToolCall{
			{ID: "call_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris","units":["C"]}`}},
			{ID: "call_2", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_weather", Arguments: `{"city":"Zürich","days":2}`}},
		}}, false}, // id, metadata
		{llms.ToolChatMessage{ID: "call_1", Content: "18 °C, sunny"}, false}, // name, status, artifact
		{llms.ToolChatMessage{ID: "call_2", Content: "station offline"}, false},
		{llms.AIChatMessage{Content: "Paris: 18 °C and sunny. Zürich: no data.", ToolCalls: []llms.ToolCall{
			{ID: "call_3", Type: "function", FunctionCall: &llms.FunctionCall{Name: "get_forecast", Arguments: `{"city":`}},
		}}, false},
		{llms.GenericChatMessage{Role: "critic", Content: "Cite the station next time."}, true},
		{llms.GenericChatMessage{Role: "assistant", Name: "reviewer", Content: "Noted."}, true},
		{llms.SystemChatMessage{Content: "Be brief."}, false}, // the developer role
	}
	if len(elements) != len(want) {
		t.Fatalf("the fixture has %d messages; this test knows %d: update it with docs/adapters.md", len(elements), len(want))
	}

	ctx, client, id := timeout(t), connect(t), conversationID(t)
	if _, err := client.Append(ctx, &chatmemoryv1.AppendRequest{ConversationId: id, Messages: elements}); err != nil {
		t.Fatal(err)
	}
	got, err := chatmemory.NewChatMessageHistory(client, id).Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i].message) {
			t.Errorf("fixture message %d reads as\n%#v\nwant\n%#v", i, got[i], want[i].message)
		}
	}

	goID := conversationID(t) + "-go"
	history := chatmemory.NewChatMessageHistory(client, goID)
	for i := range want {
		if !want[i].same {
			continue
		}
		if err := history.AddMessage(ctx, want[i].message); err != nil {
			t.Fatal(err)
		}
		written := stored(t, client, goID)
		if last := written[len(written)-1]; !proto.Equal(last, elements[i]) {
			t.Errorf("Go stores fixture message %d as\n%v\nthe LangChain adapters as\n%v", i, last, elements[i])
		}
	}
}
