"""Retrieval from recall with the real MiniLM embedder: facts stated once in 40 sessions, asked
about in other words. Reports recall@5 (printed; run with -s to see it)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from app.memory.store import MemoryStore
from models.convert import ensure_default_embedder
from models.local_client import LocalEmbedder

pytestmark = pytest.mark.slow

FACTS = [
    ("My sister Clara lives in Lisbon now.", "Which city did my sibling move to?"),
    ("I'm allergic to peanuts, so be careful with recipes.", "What food allergy do I have?"),
    ("My car is a blue 2015 Honda Civic.", "What vehicle do I drive?"),
    ("The wifi password at the cabin is pinecone42.", "What's the wireless code for the cabin?"),
    ("My dentist appointment is on March 3rd at 9am.", "When am I seeing the dentist?"),
    ("I work as a nurse at St. Mary's hospital.", "What is my profession?"),
    ("Our dog is called Biscuit, a golden retriever.", "What's the name of our pet?"),
    ("I'm training for the Berlin marathon in September.", "Which race am I preparing for?"),
    ("My favourite author is Ursula K. Le Guin.", "Which writer do I like most?"),
    ("The quarterly tax report is saved in ~/Documents/taxes/q3.xlsx.", "Where did I put the tax spreadsheet?"),
    ("I prefer my coffee black with no sugar.", "How do I take my coffee?"),
    ("My daughter's birthday is on July 14.", "When is my kid's birthday?"),
    ("I'm learning Japanese with a tutor on Tuesdays.", "What language am I studying?"),
    ("The project deadline for the Atlas redesign is November 30.", "When is the Atlas redesign due?"),
    ("My landlord's name is Mr. Okafor.", "Who owns the apartment I rent?"),
    ("I switched my phone plan to Mint Mobile last month.", "Which mobile carrier am I with?"),
    ("My blood type is O negative.", "What blood group am I?"),
    ("We're planning a trip to Kyoto in April.", "Where are we going on holiday in spring?"),
    ("I play the cello in a community orchestra.", "What instrument do I play?"),
    ("My backup drive is the grey Samsung T7.", "Which external disk do I use for backups?"),
    ("I've been vegetarian since 2019.", "Do I eat meat?"),
    ("My gym membership renews on the first of each month.", "When does my fitness club subscription renew?"),
    ("The meeting with the accountant moved to Friday afternoon.", "When is the appointment with my bookkeeper?"),
    ("My username on the company laptop is jdoe-admin.", "What's my login on the work computer?"),
    ("I'm saving up for a house deposit of 40,000 euros.", "How much money am I putting aside for a home?"),
    ("My mother's maiden name is Fitzgerald.", "What was my mom's surname before she married?"),
    ("I usually wake up at 5:30 to go running.", "What time do I get up in the morning?"),
    ("The printer in the office is an HP LaserJet 4050.", "What model is the office printer?"),
    ("My brother Tom is getting married in June.", "When is my brother's wedding?"),
    ("I keep my passwords in Bitwarden.", "Which password manager do I use?"),
]
FILLER_USER = [
    "Can you list what's in my Downloads folder?", "Thanks, that's helpful.", "Open the calculator please.",
    "What's using most of my memory right now?", "Find the file called notes.md.", "Never mind, all good.",
    "How much disk space is left?", "Close that window.", "Show me yesterday's screenshots.",
    "Move the PDFs into the Papers folder.", "Rename draft.txt to final.txt.", "What time is it?",
]
FILLER_ASSISTANT = [
    "Here is what I found.", "Done.", "I moved 3 files.", "You have 41 GB free.",
    "Firefox is using 1.2 GB of memory.", "I couldn't find that file; could you give me more of its name?",
    "The window is closed.", "Renamed it.",
]


def build_history(store: MemoryStore) -> dict[str, int]:
    """40 sessions over 40 days; facts stated once, among filler. Returns fact -> message id."""
    start = datetime.datetime(2026, 9, 1, 9, 0)
    ids = {}
    for session in range(40):
        when = start + datetime.timedelta(days=session)
        conversation = f"session-{session}"
        fact = FACTS[session][0] if session < len(FACTS) else None
        for turn in range(6):
            user = FILLER_USER[(session * 5 + turn) % len(FILLER_USER)]
            if fact is not None and turn == 2 + session % 3:
                user = fact
            message = store.recall.add(conversation, "user", user, created_at=when)
            if user == fact:
                ids[fact] = message.id
            store.recall.add(conversation, "assistant",
                             FILLER_ASSISTANT[(session + turn) % len(FILLER_ASSISTANT)], created_at=when)
            when += datetime.timedelta(minutes=3)
    return ids


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory):
    path = ensure_default_embedder(tmp_path_factory.mktemp("models"))
    with LocalEmbedder(path) as model:
        yield model


def test_recall_at_5_for_paraphrased_questions(embedder: LocalEmbedder, tmp_path: Path):
    store = MemoryStore.open(tmp_path / "recall.duckdb", embedder=embedder, model_id=embedder.info.file_hash)
    try:
        ids = build_history(store)
        assert store.recall.count() == 40 * 12
        found = 0
        misses = []
        for fact, question in FACTS:
            page = store.recall.search(question, page=0, size=5)
            if ids[fact] in [m.id for m in page.items]:
                found += 1
            else:
                misses.append(question)
        recall_at_5 = found / len(FACTS)
        print(f"\nrecall@5 = {recall_at_5:.3f} ({found}/{len(FACTS)}); missed: {misses}")
        assert recall_at_5 >= 0.85
    finally:
        store.db.close()
