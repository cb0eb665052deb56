/** True for an address nothing user-controlled may reach; anything that is not an IP address included. */
export declare function isPrivateAddress(address: string): boolean;
