import { allow, type Permission } from "@parley/kit/auth";
import { enumMapping } from "@parley/kit/enums";
import type { CallContext, Handlers } from "@parley/kit/grpc";
import { type AccountServiceService, ContactChannel } from "@parley/proto/parley/auth/v1/account";
import type { Lifecycle } from "../domain/lifecycle";
import { acceptLanguageOf, accountMessage } from "./mapping";

/** A person's own account: any signed-in person, for themselves only. */
export const accountPermissions: { [K in keyof typeof AccountServiceService]: Permission } = {
  deleteMyAccount: allow.signedIn,
  exportMyData: allow.signedIn,
  requestContactVerification: allow.signedIn,
  verifyContact: allow.signedIn,
};

const CHANNEL = enumMapping<"email" | "phone", ContactChannel>({
  email: ContactChannel.CONTACT_CHANNEL_EMAIL,
  phone: ContactChannel.CONTACT_CHANNEL_PHONE,
});
const channelOf = (channel: ContactChannel) => CHANNEL.toDomain(channel, "channel");

/** The caller's own bearer token, passed on so each service serves only their data. */
const bearerOf = (ctx: CallContext) => {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" ? header.replace(/^Bearer /, "") : "";
};

export function accountHandlers(lifecycle: Lifecycle): Handlers<typeof AccountServiceService> {
  return {
    async deleteMyAccount(request, ctx) {
      await lifecycle.deleteAccount(ctx.principal, bearerOf(ctx), {
        password: request.password,
        mfaCode: request.mfaCode,
      });
      return {};
    },
    async requestContactVerification(request, ctx) {
      return {
        sentTo: await lifecycle.requestVerification(
          ctx.principal,
          channelOf(request.channel),
          acceptLanguageOf(ctx),
        ),
      };
    },
    async verifyContact(request, ctx) {
      return {
        account: accountMessage(
          await lifecycle.verifyContact(ctx.principal, channelOf(request.channel), request.code),
        ),
      };
    },
    async exportMyData(_request, ctx) {
      return { archive: await lifecycle.exportData(ctx.principal, bearerOf(ctx)) };
    },
  };
}
