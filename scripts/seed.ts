// Idempotent demo data through the public gRPC APIs (as a partner backend would): an admin
// (auth's BOOTSTRAP_ADMIN_*), three experts with rates and specialisations, and a user with
// a funded wallet. Running it again changes nothing; an account someone has changed since (its
// password, MFA turned on) is left as it is, and said so, rather than stopping the platform.
import { isAppError } from "@parley/kit/errors";
import { createServiceClient } from "@parley/kit/grpc";
import { AuthServiceService, Role } from "@parley/proto/parley/auth/v1/auth";
import { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import {
  ExpertAvailability,
  type Profile,
  SyncOutcome,
  UserServiceService,
} from "@parley/proto/parley/user/v1/user";

export interface DemoAccount {
  name: string;
  email: string;
  password: string;
}

export interface SeedResult {
  admin: DemoAccount;
  experts: DemoAccount[];
  user: DemoAccount;
  /** Accounts the seed could not sign in as (changed since it made them): left as they are. */
  left: string[];
}

const inr = (rupees: number) => ({ amountMinor: BigInt(rupees * 100), currency: "INR" });
const DEMO_PASSWORD = "parley demo 2026";
const EMPTY_PROFILE: Profile = {
  userId: "",
  displayName: "",
  avatarUrl: "",
  bio: "",
  languages: [],
  verified: false,
  partnerId: "",
  externalId: "",
  syncStatus: SyncOutcome.SYNC_OUTCOME_UNSPECIFIED,
};

const EXPERTS = [
  {
    name: "Asha Rao",
    email: "asha@parley.local",
    chat: 20,
    call: 30,
    specialisations: ["vedic", "tarot"],
    languages: ["en", "hi"],
    years: 12,
    bio: "Vedic astrology and tarot, twelve years of readings.",
  },
  {
    name: "Ravi Menon",
    email: "ravi@parley.local",
    chat: 15,
    call: 25,
    specialisations: ["numerology"],
    languages: ["en", "ml"],
    years: 6,
    bio: "Numerology for names, dates and decisions.",
  },
  {
    name: "Meera Iyer",
    email: "meera@parley.local",
    chat: 25,
    call: 40,
    specialisations: ["career", "relationships"],
    languages: ["en", "ta"],
    years: 9,
    bio: "Career and relationship guidance.",
  },
];

/**
 * The demo accounts the seed makes, known before it runs: `pnpm start` hands them to the edge,
 * whose console offers each as a one-click sign-in.
 */
export function demoAccounts(admin: { email: string; password: string }) {
  return [
    { name: "Admin", email: admin.email, password: admin.password, role: "admin" },
    ...EXPERTS.map((e) => ({ name: e.name, email: e.email, password: DEMO_PASSWORD, role: "expert" })),
    { name: "Priya Demo", email: "priya@parley.local", password: DEMO_PASSWORD, role: "user" },
  ];
}

export async function seedDemoData(options: {
  grpc: { auth: string; user: string; billing: string };
  admin: { email: string; password: string };
}): Promise<SeedResult> {
  const auth = createServiceClient(AuthServiceService, {
    address: options.grpc.auth,
    defaultDeadlineMs: 15_000,
  });
  const users = createServiceClient(UserServiceService, {
    address: options.grpc.user,
    defaultDeadlineMs: 15_000,
  });
  const billing = createServiceClient(BillingServiceService, {
    address: options.grpc.billing,
    defaultDeadlineMs: 15_000,
  });
  const left: string[] = [];
  const result = (): SeedResult => ({
    admin: { name: "Admin", ...options.admin },
    experts: EXPERTS.map((e) => ({ name: e.name, email: e.email, password: DEMO_PASSWORD })),
    user: { name: "Priya Demo", email: "priya@parley.local", password: DEMO_PASSWORD },
    left,
  });
  /**
   * An account someone changed (its password, so signing in fails and it cannot be registered
   * again), suspended from the back office, or locked with mistyped passwords: not the seed's to
   * sign in as now. Anything else
   * (auth busy or failing) stops the start, as before.
   */
  const changed = (error: unknown) =>
    isAppError(error, "INVALID_CREDENTIALS") ||
    isAppError(error, "ACCOUNT_EXISTS") ||
    isAppError(error, "ACCOUNT_SUSPENDED") ||
    isAppError(error, "TOO_MANY_ATTEMPTS");
  try {
    /** Tokens, or undefined when the account needs MFA now. */
    const login = async (email: string, password: string) => {
      const response = await auth.login({ identifier: email, password, deviceName: "seed" });
      return response.result?.$case === "tokens" ? response.result.value : undefined;
    };
    /**
     * Signs in, or registers the account the first time; undefined (and noted in `left`) when it
     * was changed since. Signing in first keeps restarts off auth's registration limit (per IP
     * and hour, shared through Redis when REDIS_URL is set).
     */
    const account = async (name: string, email: string) => {
      try {
        const tokens = await login(email, DEMO_PASSWORD);
        if (tokens) return { userId: tokenSubject(tokens.accessToken), accessToken: tokens.accessToken };
        left.push(email);
        return undefined;
      } catch (error) {
        if (!isAppError(error, "INVALID_CREDENTIALS")) {
          if (!changed(error)) throw error;
          left.push(email);
          return undefined;
        }
      }
      try {
        const { account: created, tokens } = await auth.register({
          email,
          phone: "",
          password: DEMO_PASSWORD,
          displayName: name,
          deviceName: "seed",
        });
        return { userId: created!.userId, accessToken: tokens!.accessToken };
      } catch (error) {
        // There, with another password now.
        if (!changed(error)) throw error;
        left.push(email);
        return undefined;
      }
    };
    const adminTokens = await login(options.admin.email, options.admin.password).catch((error: unknown) => {
      if (!changed(error)) throw error;
      return undefined;
    });
    if (!adminTokens) {
      left.push(options.admin.email);
      return result();
    }
    const admin = { bearerToken: adminTokens.accessToken };
    /**
     * Each person sets their own name: auth's outbox may not have delivered the one given at
     * registration yet, and a person's own update creates their profile when it is still missing.
     */
    const named = (person: { userId: string; accessToken: string }, displayName: string) =>
      users.updateProfile(
        {
          reason: "",
          profile: { ...EMPTY_PROFILE, userId: person.userId, displayName },
          updateMask: ["display_name"],
        },
        { bearerToken: person.accessToken },
      );

    for (const expert of EXPERTS) {
      const person = await account(expert.name, expert.email);
      if (!person) continue;
      const { userId } = person;
      await auth.setUserRole({ userId, role: Role.ROLE_EXPERT, reason: "demo expert" }, admin);
      await users.upsertExpertProfile(
        {
          reason: "demo expert",
          expertId: userId,
          profile: {
            chatRate: inr(expert.chat),
            callRate: inr(expert.call),
            maxConcurrentSessions: 2,
            specialisations: expert.specialisations,
            languages: expert.languages,
            experienceYears: expert.years,
            bio: expert.bio,
          },
        },
        admin,
      );
      await users.setAvailability(
        {
          reason: "demo expert",
          expertId: userId,
          availability: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
        },
        admin,
      );
      await named(person, expert.name);
    }

    const user = await account("Priya Demo", "priya@parley.local");
    if (user) {
      await named(user, "Priya Demo");
      // A fixed request id: a second run finds the grant already made and credits nothing.
      await billing.grantCredit(
        { userId: user.userId, amount: inr(500), note: "demo wallet", requestId: "seed-demo-wallet-priya" },
        admin,
      );
    }
    return result();
  } finally {
    auth.close();
    users.close();
    billing.close();
  }
}

/** The `sub` claim of an access token we were just given (no verification needed for our own use). */
function tokenSubject(token: string): string {
  return (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as { sub: string }).sub;
}
