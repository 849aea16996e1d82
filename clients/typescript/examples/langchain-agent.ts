/**
 * A LangChain 1.x agent (`createAgent`) whose conversation lives in ChatMemory, without a
 * LangGraph checkpointer (docs/adapters.md): each turn loads the conversation as the agent's input
 * messages and appends the turn's new messages (the question, tool calls, tool results, the
 * answer) in one Append. The model is LangChain's fake chat model, so it runs offline.
 *
 *   CHATMEMORY_ADDRESS=127.0.0.1:50051 node langchain-agent.ts
 *
 * scripts/test-clients.sh type-checks and runs it in a scratch project that installed the packed
 * package; test/langchain-agent.test.ts runs it against a test server.
 */
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { ChatMemoryMessageHistory } from "chatmemory-client/langchain";
import { createAgent, tool } from "langchain";
import { z } from "zod";

const getWeather = tool(async ({ city }) => `${city}: 18 °C and sunny`, {
  name: "get_weather",
  description: "The current weather in a city",
  schema: z.object({ city: z.string() }),
});

const model = fakeModel()
  .respondWithTools([{ name: "get_weather", args: { city: "Paris" }, id: "call_paris" }])
  .respond(new AIMessage("It is 18 °C and sunny in Paris."))
  .respond((messages) => new AIMessage(`I had ${messages.length - 1} messages of this conversation in front of me.`));
const agent = createAgent({ model, tools: [getWeather], systemPrompt: "You answer weather questions." });

/** One turn: the conversation from ChatMemory in, the turn's new messages back into it in one Append. */
async function runTurn(history: ChatMemoryMessageHistory, question: string): Promise<BaseMessage[]> {
  const before = await history.getMessages();
  const input = new HumanMessage({ content: question, id: crypto.randomUUID() });
  const { messages } = await agent.invoke({ messages: [...before, input] });
  const turn = messages.slice(messages.findIndex((message) => message.id === input.id));
  await history.addMessages(turn);
  return turn;
}

const history = new ChatMemoryMessageHistory({
  conversationId: process.env.CHATMEMORY_CONVERSATION_ID ?? `agent-example-${Date.now()}`,
  address: process.env.CHATMEMORY_ADDRESS ?? "127.0.0.1:50051",
});
for (const question of ["What's the weather in Paris?", "What did we talk about?"]) {
  const turn = await runTurn(history, question);
  console.log(`turn stored: ${turn.map((message) => message.type).join(", ")}`);
  console.log(`answer: ${turn.at(-1)?.text}`);
}
console.log(`conversation holds ${(await history.getMessages()).length} messages`);
history.close();
