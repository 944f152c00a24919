// Reads a fetch Response whose body may be JSON, empty, or not JSON at all (errors from
// proxies), for the API test helpers: the status, the parsed body when there is one, the text.
export interface JsonReply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function readJsonReply(res: Response): Promise<JsonReply> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}
