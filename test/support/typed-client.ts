import { type Client, type ClientOptions, createClient } from "../../client/index";
import type { UserView } from "../../shared/contract/views";
import { newCredentials } from "./http";

/** A typed client (client/) of a fresh account, registered and logged in through its own calls. */
export async function signedUp(options: ClientOptions, prefix: string): Promise<{ client: Client; user: UserView; creds: ReturnType<typeof newCredentials> }> {
  const client = createClient(options);
  const creds = newCredentials(prefix);
  const user = await client.register(creds);
  await client.login({ username: creds.username, password: creds.password });
  return { client, user, creds };
}
