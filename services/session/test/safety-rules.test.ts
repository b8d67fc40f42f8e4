import t from "tap";
import { maskContacts, scanContacts, scanLink } from "../src/domain/contact-filter";
import {
  computeEvidence,
  DEFAULT_DISPUTE_RULES,
  pausesFrom,
  proposeOutcome,
} from "../src/domain/dispute-rules";
import type { SessionRecord } from "../src/domain/model";

// Pure rules of trust and safety; the paths through the services are in services/edge/test/safety.test.ts.

t.test("the contact filter finds phones, emails, payment handles and messenger links", async (t) => {
  const kinds = (text: string) => scanContacts(text).map((m) => m.kind);
  t.same(kinds("call me on +91 98765 43210"), ["phone"]);
  t.same(kinds("my number is 98765-43210 ok"), ["phone"]);
  t.same(kinds("(022) 4567 8901 2"), ["phone"]);
  t.same(kinds("write to ravi.k@example.com"), ["email"]);
  t.same(kinds("ravi at gmail dot com"), [], "words alone are not an address");
  t.same(kinds("ravi [at] gmail [dot] com"), ["email"]);
  t.same(kinds("pay ravi@okaxis or ravi@ybl"), ["payment_handle", "payment_handle"]);
  t.same(kinds("paypal.me/ravi"), ["payment_handle"]);
  t.same(kinds("upi://pay?pa=ravi@upi"), ["payment_handle"]);
  t.same(kinds("ping me wa.me/919876543210"), ["messenger_link"], "one span, however many patterns match it");
  t.same(kinds("born in 1987, 3 kids, 12 years of practice"), [], "ordinary numbers pass");
  t.same(kinds("Your session was 45 minutes, rate ₹20/min"), []);
  const links = (url: string) => scanLink(url).map((m) => m.kind);
  t.same(links("https://wa.me/919876543210"), ["messenger_link"], "an attachment link is scanned too");
  t.same(links("https://paypal.me/ravi"), ["payment_handle"]);
  t.same(links("https://cdn.example.com/u/1700000000123/4567890123.png"), [], "but not for digits");
  t.same(links("https://cdn.example.com/photo@2x.png"), [], "nor a retina image's name for an address");
  t.same(links("HTTPS://wa%2Eme/919876543210"), ["messenger_link"], "read as a browser reads it");
  t.same(links("https:wa.me/919876543210"), ["messenger_link"]);
  t.same(links("uploads/0f3a/photo.png"), [], "an upload's key is ours");
  const text = "mail me: a@b.co or call 9876543210!";
  t.equal(maskContacts(text, scanContacts(text)), "mail me: [email removed] or call [phone removed]!");
});

const session = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  id: "s",
  userId: "u",
  expertId: "e",
  kind: "chat",
  status: "ended",
  requestId: "r",
  rateMinor: 1000n,
  currency: "INR",
  holdId: null,
  invoiceId: null,
  minutesCharged: 3,
  minutesLeft: 0n,
  endReason: "user_ended",
  requestedAt: new Date(0),
  acceptedAt: new Date(0),
  startedAt: new Date(0),
  endedAt: new Date(180_000),
  expiresAt: new Date(0),
  nextChargeAt: null,
  pausedAt: null,
  userOnline: true,
  expertOnline: true,
  awaySince: null,
  settlementPending: false,
  queuedAt: null,
  lastSeq: 0n,
  ...over,
});
const at = (s: number) => new Date(s * 1000);

t.test("evidence and the proposing rule", async (t) => {
  const silent = computeEvidence(session(), [], [{ senderId: "u", sentAt: at(5) }], 15);
  t.equal(silent.expertFirstResponseSeconds, null);
  t.equal(silent.amountChargedMinor, 3000n);
  t.match(proposeOutcome(session(), silent, DEFAULT_DISPUTE_RULES), {
    outcome: "full_refund",
    rule: "expert_no_reply",
    refundMinor: 3000n,
  });
  const late = computeEvidence(session(), [], [{ senderId: "e", sentAt: at(121) }], 15);
  t.equal(late.expertFirstResponseSeconds, 121);
  t.equal(proposeOutcome(session(), late, DEFAULT_DISPUTE_RULES).outcome, "full_refund", "past two minutes");
  const prompt = computeEvidence(session(), [], [{ senderId: "e", sentAt: at(30) }], 15);
  t.equal(proposeOutcome(session(), prompt, DEFAULT_DISPUTE_RULES).outcome, "review", "support decides");
  t.equal(
    proposeOutcome(session(), silent, { ...DEFAULT_DISPUTE_RULES, enabled: [] }).outcome,
    "review",
    "rules are configuration",
  );
  t.equal(
    proposeOutcome(session({ kind: "call" }), silent, DEFAULT_DISPUTE_RULES).outcome,
    "review",
    "a call is not judged by chat messages",
  );
});

t.test("pauses: away past the grace until both are back", async (t) => {
  const changes = [
    { userId: "e", online: false, at: at(10) },
    { userId: "e", online: true, at: at(20) }, // 10 s: within the grace, no pause
    { userId: "u", online: false, at: at(60) },
    { userId: "e", online: false, at: at(70) },
    { userId: "u", online: true, at: at(90) },
    { userId: "e", online: true, at: at(100) }, // both back at 100: paused 75..100
    { userId: "e", online: false, at: at(150) }, // never back: paused 165..end
  ];
  t.same(pausesFrom(changes, session(), 15), [
    { from: at(75), to: at(100) },
    { from: at(165), to: null },
  ]);
  const overlapping = [
    { userId: "u", online: false, at: at(10) },
    { userId: "e", online: false, at: at(20) },
    { userId: "u", online: true, at: at(22) }, // back within the grace: away from 20, when e left
    { userId: "e", online: true, at: at(34) }, // 14 s after e left: no pause, as metering had none
  ];
  t.same(pausesFrom(overlapping, session(), 15), [], "the worker's rule: each side its own grace");
});
