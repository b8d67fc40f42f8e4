import type { PaymentProvider, PayoutProvider } from "../domain/ports";
import { developmentProvider } from "./development";
import { type RazorpayOptions, razorpayProvider } from "./razorpay";
import { developmentPayouts, type RazorpayXOptions, razorpayXProvider } from "./razorpayx";
import { type StripeOptions, stripeProvider } from "./stripe";

export interface ProviderSettings {
  stripe?: StripeOptions;
  razorpay?: RazorpayOptions;
  razorpayx?: RazorpayXOptions;
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

/** The payout rail: RazorpayX when configured, otherwise the development rail (pays at once). */
export const createPayoutProvider = (settings: ProviderSettings): PayoutProvider =>
  settings.razorpayx ? razorpayXProvider(settings.razorpayx) : developmentPayouts();
