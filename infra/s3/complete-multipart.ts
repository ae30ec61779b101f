/**
 * CompleteMultipartUpload with each part's CRC32. Uploads whose parts carry `x-amz-checksum-crc32` are created with
 * `x-amz-checksum-algorithm: CRC32`, as S3's API has the algorithm chosen when the upload is created. Such an upload
 * completes only when every part's checksum is listed again: MinIO answered `InvalidPart` to minio-js's own
 * `completeMultipartUpload`, which sends part numbers and ETags only.
 */
import type { Client } from 'minio';
import { s3ErrorFields } from './s3-error-body';

/** One uploaded part: its number, the ETag the server answered, and the base64 CRC32 it was sent with. */
export interface ChecksummedPart {
  part: number;
  etag: string;
  crc32: string;
}

/** An S3 error answered to CompleteMultipartUpload (S3 may answer 200 with an error body). */
export class CompleteMultipartError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CompleteMultipartError';
  }
}

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Completes `uploadId` of `bucket/key` from `parts` (in part order), each with its CRC32. */
export async function completeWithChecksums(
  client: Client,
  bucket: string,
  key: string,
  uploadId: string,
  parts: ChecksummedPart[],
): Promise<void> {
  const body =
    '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    parts
      .map(
        (p) =>
          `<Part><PartNumber>${p.part}</PartNumber><ETag>${xmlText(p.etag)}</ETag>` +
          `<ChecksumCRC32>${xmlText(p.crc32)}</ChecksumCRC32></Part>`,
      )
      .join('') +
    '</CompleteMultipartUpload>';
  const res = await client.makeRequestAsync(
    { method: 'POST', bucketName: bucket, objectName: key, query: `uploadId=${encodeURIComponent(uploadId)}` },
    body,
  );
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const answer = Buffer.concat(chunks).toString('utf8');
  if (/<Error>/.test(answer)) {
    const fields = s3ErrorFields(answer);
    const code = fields.code ?? 'InternalError';
    const { message } = fields;
    throw new CompleteMultipartError(`completing the upload of ${bucket}/${key}: ${code} ${message}`.trim(), code);
  }
}
