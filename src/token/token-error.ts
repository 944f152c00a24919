// A registry token that does not verify. Apart from tokens.ts so that identify.ts, which every auth mode loads,
// can recognise one without loading jose.
export class TokenError extends Error {}
