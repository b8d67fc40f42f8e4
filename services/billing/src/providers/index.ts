import type { PaymentProvider } from "../domain/ports";
import { developmentProvider } from "./development";
import { type RazorpayOptions, razorpayProvider } from "./razorpay";
import { type StripeOptions, stripeProvider } from "./stripe";

export interface ProviderSettings {
  stripe?: StripeOptions;
  razorpay?: RazorpayOptions;
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
