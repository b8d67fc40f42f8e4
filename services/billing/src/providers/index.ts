import type { PaymentProvider, PayoutProvider } from "../domain/ports";
import { developmentProvider } from "./development";
import { type RazorpayOptions, razorpayProvider } from "./razorpay";
import { developmentPayouts, type RazorpayXOptions, razorpayXProvider } from "./razorpayx";
import { type StripeOptions, stripeProvider } from "./stripe";

export interface ProviderSettings {
  stripe?: StripeOptions;
  razorpay?: RazorpayOptions;
  razorpayx?: RazorpayXOptions;
  /**
   * Whether the development rail (pays at once, moves no money) stands in when RazorpayX is not
   * configured: not under NODE_ENV=production, where payouts are then refused
   * (PAYOUTS_NOT_CONFIGURED) rather than marked paid with nothing sent.
   */
  developmentPayouts?: boolean;
}

/** The providers this deployment takes: the development provider always, Stripe and Razorpay when configured. */
export function createProviders(settings: ProviderSettings): Map<string, PaymentProvider> {
  const providers = [
    developmentProvider(),
    settings.stripe && stripeProvider(settings.stripe),
    settings.razorpay && razorpayProvider(settings.razorpay),
  ].filter((provider): provider is PaymentProvider => provider !== undefined);
  return new Map(providers.map((provider) => [provider.name, provider]));
}

/** The payout rail: RazorpayX when configured, otherwise the development rail (pays at once) unless it is off. */
export const createPayoutProvider = (settings: ProviderSettings): PayoutProvider | undefined => {
  if (settings.razorpayx) return razorpayXProvider(settings.razorpayx);
  return settings.developmentPayouts === false ? undefined : developmentPayouts();
};
