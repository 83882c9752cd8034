// Shared set-up of the jsforce tests: a logged-in connection on the dev org named by the
// CALLFORCE_* variables (set by crates/devorg/tests/it/clients.rs).
import jsforce from "jsforce";

/** The org's instance URL. */
export const url = process.env.CALLFORCE_INSTANCE_URL;

/** A jsforce connection logged in with the password grant, on API v59.0. */
export async function connect() {
  const conn = new jsforce.Connection({
    oauth2: {
      clientId: process.env.CALLFORCE_CLIENT_ID,
      clientSecret: process.env.CALLFORCE_CLIENT_SECRET,
      loginUrl: url,
    },
    loginUrl: url,
    version: "59.0",
  });
  await conn.login(process.env.CALLFORCE_USERNAME, process.env.CALLFORCE_PASSWORD);
  return conn;
}

/** Runs `promise`, expects it to reject, and returns the error. */
export async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}
