/** A decoded RGB image, 8 bits per channel, row-major HWC. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}
