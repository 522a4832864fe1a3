import openai, aiohttp
from conftest import write_pack
from fakes.chat_provider import FakeChatProvider, text_chunks

async def test_smoke(aiohttp_server, start_proxy, tmp_path):
    fake = FakeChatProvider()
    server = await aiohttp_server(fake.app)
    write_pack(tmp_path / "rules", "a", f"""
        pack: a
        match: "true"
        upstream:
          url: {server.make_url('/v1')}
          protocol: chat
        response:
          - rename: {{"choices[].delta.reasoning": reasoning_content}}
        """)
    proxy = start_proxy(tmp_path / "rules")
    fake.reply_stream(text_chunks("Hel", "lo", reasoning=("hm",)))
    client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="sk-x")
    s = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    out = [c async for c in s]
    print(out)
    print(proxy.log())
