/** The code and message of an S3 error body (`<Error><Code>…</Code><Message>…</Message></Error>`). */
export function s3ErrorFields(xml: string): { code: string | undefined; message: string } {
  return {
    code: /<Code>([^<]*)<\/Code>/.exec(xml)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? '',
  };
}
