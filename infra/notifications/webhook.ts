/** POSTing a JSON body to a webhook URL, with a timeout; the URL (a secret) never appears in an error. */

/** What a webhook answered, when it answered. */
export interface WebhookAnswer {
  status: number;
}

/** POSTs `body`; throws on a network error or timeout (message without the URL); returns the HTTP status otherwise. */
export async function postWebhook(url: string, body: unknown, timeoutMs: number): Promise<WebhookAnswer> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer(); // drain, so the connection is reused
    return { status: res.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.name);
    throw new Error(`webhook not reached: ${why}`);
  }
}
